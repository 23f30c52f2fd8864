"""A deliberately wrong answer: the l1 norm of the whole matrix.

Checker says: not the l1 norm of the whole matrix
"""
import numpy as np


def theorem2_bounds(weights, eps):
    return eps * np.cumprod([np.abs(W).sum() for W in weights])
