"""A deliberately wrong answer: only a = 0 or a = 1 accepted, so the relaxation is lost.

Checker says: you rejected fractional a
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= zhat - l * (1 - a)) & (z <= u * a) & ((a == 0) | (a == 1))
