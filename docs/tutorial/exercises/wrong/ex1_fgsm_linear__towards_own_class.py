"""A deliberately wrong answer: every example pushed towards its own class.

Checker says: wrong sign: you push every example towards its own class
"""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    toward_own = np.where(np.asarray(y) == 1, 1.0, -1.0)[:, None]
    return np.clip(x + eps * toward_own * np.sign(w)[None, :], 0, 1)
