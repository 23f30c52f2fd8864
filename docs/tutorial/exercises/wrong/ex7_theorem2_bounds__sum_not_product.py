"""A deliberately wrong answer: the gammas added instead of multiplied.

Checker says: the bounds multiply
"""
import numpy as np


def theorem2_bounds(weights, eps):
    return eps * np.cumsum([np.abs(W).sum(axis=0).max() for W in weights])
