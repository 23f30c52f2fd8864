"""A deliberately wrong answer: the mean of the other logits instead of their max.

Checker says: mean instead of max
"""
import numpy as np


def dlr_loss(logits, y):
    z = np.asarray(logits, dtype=float)
    rows = np.arange(len(z))
    others = z.copy()
    others[rows, y] = -np.inf
    ordered = -np.sort(-z, axis=1)
    mean_others = (z.sum(axis=1) - z[rows, y]) / (z.shape[1] - 1)
    return -(z[rows, y] - mean_others) / (ordered[:, 0] - ordered[:, 2])
