"""A deliberately wrong answer: the switches computed from x W1 without the bias.

Checker says: switches computed without the bias
"""
import numpy as np


def w_eq_fc2(W1, b1, W0, b0, x):
    s = (x @ W1 > 0).astype(float)                 # wrong: the bias b1 is missing
    gains = s * W0[:, 0]
    return gains @ W1.T, -(gains @ b1) - b0[0]
