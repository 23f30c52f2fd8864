"""A deliberately wrong answer: scaled by the gap to the SECOND largest logit.

Checker says: wrong scale
"""
import numpy as np


def dlr_loss(logits, y):
    z = np.asarray(logits, dtype=float)
    rows = np.arange(len(z))
    others = z.copy()
    others[rows, y] = -np.inf
    ordered = -np.sort(-z, axis=1)
    return -(z[rows, y] - others.max(axis=1)) / (ordered[:, 0] - ordered[:, 1])
