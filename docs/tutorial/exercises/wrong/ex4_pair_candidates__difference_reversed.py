"""A deliberately wrong answer: the difference taken the other way round.

Checker says: wrong sign
"""
import numpy as np


def pair_candidates(W_eq, t, x, eps):
    D = W_eq[np.arange(len(t)), t][:, None, :] - W_eq
    return np.clip(x[:, None, :] + eps * np.sign(D), 0, 1)
