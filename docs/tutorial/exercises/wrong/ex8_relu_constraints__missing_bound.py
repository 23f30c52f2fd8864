"""A deliberately wrong answer: z <= u a dropped (an off unit is not pinned to 0).

Checker says: a missing bound: z <= u a
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= zhat - l * (1 - a))
