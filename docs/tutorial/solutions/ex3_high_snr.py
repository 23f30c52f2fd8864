"""Reference solution of exercise 3b (chapter 3)."""
import numpy as np
from scipy.stats import norm

# w_i^T x ~ N(0, 1) must exceed delta ||w_i||_1 ~ delta sqrt(2/pi) N in magnitude: two tails.
PREDICTION = 2 * norm.sf(0.001 * np.sqrt(2 / np.pi) * 784)       # about 0.53


def high_snr_share(N, delta, bias_ratio, M=200, trials=5, rng=None):
    rng = np.random.default_rng(rng)
    shares = []
    for _ in range(trials):
        W = rng.standard_normal((M, N))
        x = rng.standard_normal(N)
        x /= np.linalg.norm(x)                                  # uniform on the unit sphere
        l1 = np.abs(W).sum(axis=1)
        b = bias_ratio * l1 * rng.choice([-1.0, 1.0], M)
        shares.append(np.mean(np.abs(W @ x - b) > delta * l1))   # worst case |w^T e| = delta ||w||_1
    return float(np.mean(shares))
