"""A deliberately wrong answer: the robust accuracy counted over the clean-correct examples only.

Checker says: robust accuracy is over ALL n examples
"""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    clean, correct = clean_pred == y, adv_pred == y
    if not clean.any():
        return 0.0, 0.0
    return float(np.mean(correct[clean])), float(np.mean(~correct[clean]))
