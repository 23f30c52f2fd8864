"""A deliberately wrong answer: compares with delta ||w_i||_2, the size of w_i^T e for RANDOM signs, not the worst case.

Checker says: far too many units keep their switch
"""
import numpy as np
from scipy.stats import norm

PREDICTION = 2 * norm.sf(0.001 * np.sqrt(2 / np.pi) * 784)


def high_snr_share(N, delta, bias_ratio, M=200, trials=5, rng=None):
    rng = np.random.default_rng(rng)
    shares = []
    for _ in range(trials):
        W = rng.standard_normal((M, N))
        x = rng.standard_normal(N)
        x /= np.linalg.norm(x)
        l1 = np.abs(W).sum(axis=1)
        b = bias_ratio * l1 * rng.choice([-1.0, 1.0], M)
        shares.append(np.mean(np.abs(W @ x - b) > delta * np.linalg.norm(W, axis=1)))
    return float(np.mean(shares))
