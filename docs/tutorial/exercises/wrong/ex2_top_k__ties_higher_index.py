"""A deliberately wrong answer: exactly K kept, but ties broken towards the higher index.

Checker says: ties at the K-th magnitude broken the wrong way
"""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    top = np.argsort(np.abs(c), axis=1, kind='stable')[:, -K:]     # the last K of an ascending sort
    mask = np.zeros_like(c)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return np.clip((c * mask) @ S.T, 0, 1)
