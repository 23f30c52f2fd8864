"""A deliberately wrong answer: the max taken over every class, y included.

Checker says: the max must run over the OTHER classes
"""
import numpy as np


def dlr_loss(logits, y):
    z = np.asarray(logits, dtype=float)
    rows = np.arange(len(z))
    others = z.copy()
    others[rows, y] = -np.inf
    ordered = -np.sort(-z, axis=1)
    return -(z[rows, y] - z.max(axis=1)) / (ordered[:, 0] - ordered[:, 2])
