"""A deliberately wrong answer: clipped at 1 only.

Checker says: clipped at 1 only
"""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    return np.minimum(x + eps * np.where(np.asarray(y) == 1, -1.0, 1.0)[:, None] * np.sign(w)[None, :], 1)
