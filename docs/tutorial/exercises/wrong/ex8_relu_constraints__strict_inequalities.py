"""A deliberately wrong answer: strict inequalities, which exclude the graph of the ReLU itself.

Checker says: strict inequalities
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z > zhat) & (z > 0) & (z < zhat - l * (1 - a)) & (z < u * a)
