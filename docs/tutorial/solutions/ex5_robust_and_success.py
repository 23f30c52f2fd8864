"""Reference solution of exercise 5 (chapter 5)."""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    robust = adv_pred == y
    clean = clean_pred == y
    success = float(np.mean(~robust[clean])) if clean.any() else 0.0
    return float(np.mean(robust)), success
