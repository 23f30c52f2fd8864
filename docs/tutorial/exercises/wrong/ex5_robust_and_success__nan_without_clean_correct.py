"""A deliberately wrong answer: NaN when no example is classified correctly when clean.

Checker says: the success rate is NaN
"""
import warnings

import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    clean, correct = clean_pred == y, adv_pred == y
    with np.errstate(invalid='ignore'), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        success = float(np.mean(~correct[clean])) if len(clean) else 0.0   # np.mean([]) is NaN
    return float(np.mean(clean & correct)), success
