"""A deliberately wrong answer: the adversarial accuracy (the paper's tables) reported as the robust accuracy.

Checker says: that is the adversarial accuracy
"""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    clean, correct = clean_pred == y, adv_pred == y
    return float(np.mean(correct)), (float(np.mean(~correct[clean])) if clean.any() else 0.0)
