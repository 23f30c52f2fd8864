"""A deliberately wrong answer: the reconstruction is not clipped.

Checker says: not clipped
"""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    top = np.argsort(-np.abs(c), axis=1, kind='stable')[:, :K]
    mask = np.zeros_like(c)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return (c * mask) @ S.T
