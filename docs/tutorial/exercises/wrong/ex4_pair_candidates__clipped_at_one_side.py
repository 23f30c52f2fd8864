"""A deliberately wrong answer: clipped at 1 only.

Checker says: clipped at 1 only
"""
import numpy as np


def pair_candidates(W_eq, t, x, eps):
    D = W_eq - W_eq[np.arange(len(t)), t][:, None, :]
    return np.minimum(x[:, None, :] + eps * np.sign(D), 1)
