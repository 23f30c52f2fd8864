"""A deliberately wrong answer: the bound after layer j stops at gamma_(j-1).

Checker says: a layer off by one
"""
import numpy as np


def theorem2_bounds(weights, eps):
    gammas = [np.abs(W).sum(axis=0).max() for W in weights]
    return eps * np.cumprod([1.0] + gammas[:-1])
