"""A deliberately wrong answer: the mean over neurons instead of the max.

Checker says: mean instead of max
"""
import numpy as np


def theorem2_bounds(weights, eps):
    return eps * np.cumprod([np.abs(W).sum(axis=0).mean() for W in weights])
