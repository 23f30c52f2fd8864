"""A deliberately wrong answer: l and u swapped in the two upper constraints.

Checker says: l and u swapped
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= zhat - u * (1 - a)) & (z <= l * a)
