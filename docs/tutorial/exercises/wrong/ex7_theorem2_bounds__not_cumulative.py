"""A deliberately wrong answer: each layer's own gamma, not the product up to it.

Checker says: each bound is cumulative
"""
import numpy as np


def theorem2_bounds(weights, eps):
    return eps * np.array([np.abs(W).sum(axis=0).max() for W in weights])
