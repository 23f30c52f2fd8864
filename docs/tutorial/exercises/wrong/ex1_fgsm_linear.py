"""A deliberately wrong answer to exercise 1: the same push for every label (the checker must say "wrong sign")."""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    return np.clip(x + eps * np.sign(w)[None, :], 0, 1)
