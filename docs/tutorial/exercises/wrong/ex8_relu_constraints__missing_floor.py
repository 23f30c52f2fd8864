"""A deliberately wrong answer: z >= 0 dropped.

Checker says: a missing bound: z >= 0
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z <= zhat - l * (1 - a)) & (z <= u * a)
