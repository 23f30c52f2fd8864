"""A deliberately wrong answer: l1 norms of the rows (outgoing weights) instead of the columns.

Checker says: you summed rows
"""
import numpy as np


def theorem2_bounds(weights, eps):
    return eps * np.cumprod([np.abs(W).sum(axis=1).max() for W in weights])
