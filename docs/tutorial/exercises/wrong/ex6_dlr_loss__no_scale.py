"""A deliberately wrong answer: the scale missing.

Checker says: the scale is missing
"""
import numpy as np


def dlr_loss(logits, y):
    z = np.asarray(logits, dtype=float)
    rows = np.arange(len(z))
    others = z.copy()
    others[rows, y] = -np.inf
    ordered = -np.sort(-z, axis=1)
    return -(z[rows, y] - others.max(axis=1))
