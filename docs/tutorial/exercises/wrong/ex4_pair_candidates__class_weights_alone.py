"""A deliberately wrong answer: sgn(w_eq^i) instead of the difference.

Checker says: the DIFFERENCE
"""
import numpy as np


def pair_candidates(W_eq, t, x, eps):
    return np.clip(x[:, None, :] + eps * np.sign(W_eq), 0, 1)
