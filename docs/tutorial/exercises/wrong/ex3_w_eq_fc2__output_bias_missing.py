"""A deliberately wrong answer: b_eq without the output bias b0.

Checker says: the output bias b0 is missing
"""
import numpy as np


def w_eq_fc2(W1, b1, W0, b0, x):
    s = (x @ W1 + b1 > 0).astype(float)
    gains = s * W0[:, 0]
    return gains @ W1.T, -(gains @ b1)
