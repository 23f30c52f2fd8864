"""A deliberately wrong answer to exercise 5: the success rate counted over all examples."""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    return float(np.mean(adv_pred == y)), float(np.mean(adv_pred != y))
