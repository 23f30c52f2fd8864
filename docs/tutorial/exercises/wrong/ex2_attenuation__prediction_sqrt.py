"""A deliberately wrong answer: predicts sqrt(K/N).

Checker says: that is sqrt(K/N)
"""
import numpy as np
from sparsenet import frontend, theory

PREDICTION = float(np.sqrt(78 / 784))


def measure(w, x, rho):
    A, _ = frontend.operators('haar', 1, (28, 28))
    w = np.tile(w, (len(x), 1)) if np.ndim(w) == 1 else np.asarray(w)
    return float(theory.linear_distortions(w, A, frontend.Sparsifier('haar', rho=rho).support(x))[0].mean())
