"""Reference solution of exercise 5 (chapter 5)."""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    clean = clean_pred == y
    correct = adv_pred == y
    robust = clean & correct                          # correct clean AND under attack
    success = float(np.mean(~correct[clean])) if clean.any() else 0.0
    return float(np.mean(robust)), success
