"""Exercise 3b (chapter 3): Theorem 1 without its biases, predicted and measured.

Check: python docs/tutorial/check.py high_snr <this file>
"""
import numpy as np

# 1. Predict first, from the formula of the chapter's Monte Carlo table: for N = 784,
#    delta = 0.001 and NO bias (b_i = 0), the share of units i with
#    |w_i^T x - b_i| > delta ||w_i||_1, i.e. that no e with ||e||_inf <= delta can flip.
#    (The checker accepts an answer within 0.03 of the exact value.)
PREDICTION = None


def high_snr_share(N, delta, bias_ratio, M=200, trials=5, rng=None):
    """2. The Monte Carlo: the mean over ``trials`` draws of the share of M units i with
    |w_i^T x - b_i| > delta ||w_i||_1, where

      w_i ~ N(0, I_N) (Assumption 4), x uniform on the unit sphere of R^N (Assumption 1),
      b_i = bias_ratio * ||w_i||_1 * (a random sign): bias_ratio = delta + C is Assumption 2's
      smallest bias, 0 no bias.

    Returns one float (the checker compares with its own run, within 0.04).
    """
    raise NotImplementedError
