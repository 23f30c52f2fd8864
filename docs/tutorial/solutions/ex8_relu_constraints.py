"""Reference solution of exercise 8 (chapter 8)."""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    return (z >= zhat) & (z >= 0) & (z <= zhat - l * (1 - a)) & (z <= u * a)
