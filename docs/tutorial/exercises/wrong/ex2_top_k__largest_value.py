"""A deliberately wrong answer: ranks the coefficients by value, not magnitude.

Checker says: keep the K largest in MAGNITUDE
"""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    top = np.argsort(-c, axis=1, kind='stable')[:, :K]
    mask = np.zeros_like(c)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return np.clip((c * mask) @ S.T, 0, 1)
