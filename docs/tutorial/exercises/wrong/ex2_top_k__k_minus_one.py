"""A deliberately wrong answer: K - 1 coefficients kept.

Checker says: you kept K - 1 coefficients
"""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    top = np.argsort(-np.abs(c), axis=1, kind='stable')[:, :K - 1]
    mask = np.zeros_like(c)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return np.clip((c * mask) @ S.T, 0, 1)
