"""A deliberately wrong answer: the same push for every label.

Checker says: wrong sign for the examples of label 1
"""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    return np.clip(x + eps * np.sign(w)[None, :], 0, 1)
