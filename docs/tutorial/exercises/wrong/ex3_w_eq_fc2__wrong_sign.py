"""A deliberately wrong answer: w_eq and b_eq with the wrong sign.

Checker says: wrong sign
"""
import numpy as np


def w_eq_fc2(W1, b1, W0, b0, x):
    s = (x @ W1 + b1 > 0).astype(float)
    gains = s * W0[:, 0]
    return -(gains @ W1.T), (gains @ b1) + b0[0]
