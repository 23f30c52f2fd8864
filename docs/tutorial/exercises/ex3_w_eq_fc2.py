"""Exercise 3 (chapter 3): w_eq and b_eq of fc2 from its switches.

Check: python docs/tutorial/check.py w_eq_fc2 <this file>
"""
import numpy as np


def w_eq_fc2(W1, b1, W0, b0, x):
    """The locally linear model of y(x) = ReLU(x W1 + b1) W0 + b0 (one logit).

    W1 : (N, M), b1 : (M,)  -- the hidden layer (column i of W1 is the paper's w_i)
    W0 : (M, 1), b0 : (1,)  -- the output layer
    x : (B, N)
    Returns w_eq : (B, N) and b_eq : (B,) with y(x) = w_eq . x - b_eq for every row.
    Compute the switches s_i(x) = 1[x W1 + b1 > 0] first.
    """
    raise NotImplementedError
