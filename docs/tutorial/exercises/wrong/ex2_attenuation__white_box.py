"""A deliberately wrong answer: measures the white box distortion.

Checker says: that is the WHITE box distortion
"""
import numpy as np
from sparsenet import frontend, theory

PREDICTION = 78 / 784


def measure(w, x, rho):
    A, _ = frontend.operators('haar', 1, (28, 28))
    w = np.tile(w, (len(x), 1)) if np.ndim(w) == 1 else np.asarray(w)
    return float(theory.linear_distortions(w, A, frontend.Sparsifier('haar', rho=rho).support(x))[1].mean())
