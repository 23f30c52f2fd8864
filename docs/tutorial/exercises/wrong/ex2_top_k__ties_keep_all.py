"""A deliberately wrong answer: a threshold at the K-th magnitude, which keeps MORE than K coefficients on ties.

Checker says: ties at the K-th magnitude: you kept every coefficient
"""
import numpy as np


def sparsify(x, A, S, K):
    c = x @ A.T
    kth = -np.sort(-np.abs(c), axis=1)[:, K - 1:K]
    return np.clip((c * (np.abs(c) >= kth)) @ S.T, 0, 1)
