"""A deliberately wrong answer: the prediction counts one tail of the Gaussian only.

Checker says: one tail only
"""
import numpy as np
from scipy.stats import norm

PREDICTION = norm.sf(0.001 * np.sqrt(2 / np.pi) * 784)


def high_snr_share(N, delta, bias_ratio, M=200, trials=5, rng=None):
    rng = np.random.default_rng(rng)
    shares = []
    for _ in range(trials):
        W = rng.standard_normal((M, N))
        x = rng.standard_normal(N)
        x /= np.linalg.norm(x)
        l1 = np.abs(W).sum(axis=1)
        b = bias_ratio * l1 * rng.choice([-1.0, 1.0], M)
        shares.append(np.mean(np.abs(W @ x - b) > delta * l1))
    return float(np.mean(shares))
