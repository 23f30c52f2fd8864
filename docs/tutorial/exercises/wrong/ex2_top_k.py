"""A deliberately wrong answer to exercise 2: ranks the coefficients by value, not magnitude."""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    top = np.argsort(-c, axis=1)[:, :K]
    mask = np.zeros_like(c)
    np.put_along_axis(mask, top, 1.0, axis=1)
    return np.clip((c * mask) @ S.T, 0, 1)
