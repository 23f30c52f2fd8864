"""A deliberately wrong answer to exercise 7: l1 norms of the rows (outgoing weights) instead of the columns."""
import numpy as np


def theorem2_bounds(weights, eps):
    return eps * np.cumprod([np.abs(W).sum(axis=1).max() for W in weights])
