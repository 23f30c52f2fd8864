"""A deliberately wrong answer: every hidden unit counted, switches ignored.

Checker says: w_eq ignores the switches
"""
import numpy as np


def w_eq_fc2(W1, b1, W0, b0, x):
    w = W1 @ W0[:, 0]
    return np.tile(w, (len(x), 1)), np.full(len(x), -(W0[:, 0] @ b1) - b0[0])
