"""A deliberately wrong answer: the success rate counted over all examples.

Checker says: denominator
"""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    clean, correct = clean_pred == y, adv_pred == y
    return float(np.mean(clean & correct)), float(np.mean(~correct))
