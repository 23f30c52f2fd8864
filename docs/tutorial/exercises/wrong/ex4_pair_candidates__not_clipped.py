"""A deliberately wrong answer: not clipped.

Checker says: not clipped to [0, 1]
"""
import numpy as np


def pair_candidates(W_eq, t, x, eps):
    D = W_eq - W_eq[np.arange(len(t)), t][:, None, :]
    return x[:, None, :] + eps * np.sign(D)
