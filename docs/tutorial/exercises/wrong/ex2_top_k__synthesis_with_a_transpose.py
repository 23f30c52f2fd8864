"""A deliberately wrong answer: reconstructs with A^T instead of S.

Checker says: you reconstructed with A^T
"""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    top = np.argsort(-np.abs(c), axis=1, kind='stable')[:, :K]
    mask = np.zeros_like(c)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return np.clip((c * mask) @ A, 0, 1)
