"""A deliberately wrong answer: the big-M term with the wrong sign, z <= zhat + l (1 - a).

Checker says: wrong sign in the third constraint
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= zhat + l * (1 - a)) & (z <= u * a)
