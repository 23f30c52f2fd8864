"""A deliberately wrong answer: a = 1 meaning off: z <= zhat - l a and z <= u (1 - a).

Checker says: a has the wrong meaning
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= zhat - l * a) & (z <= u * (1 - a))
