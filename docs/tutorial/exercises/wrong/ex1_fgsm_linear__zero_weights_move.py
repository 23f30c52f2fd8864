"""A deliberately wrong answer: pixels whose weight is exactly 0 are moved too (sgn(0) taken as +1).

Checker says: you moved pixels whose weight is exactly 0
"""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    direction = np.where(w >= 0, 1.0, -1.0)             # wrong: sgn(0) = 0
    return np.clip(x + eps * np.where(np.asarray(y) == 1, -1.0, 1.0)[:, None] * direction[None, :], 0, 1)
