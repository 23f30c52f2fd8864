"""A deliberately wrong answer: z <= zhat - l (1 - a) dropped (an on unit is not pinned to zhat).

Checker says: a missing bound: z <= zhat - l (1 - a)
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= u * a)
