"""A deliberately wrong answer: not clipped to [0, 1].

Checker says: not clipped
"""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    return x + eps * np.where(np.asarray(y) == 1, -1.0, 1.0)[:, None] * np.sign(w)[None, :]
