"""A deliberately wrong answer: measures through the CDF 9/7 front end, whose basis is not orthonormal.

Checker says: the exercise's front end is Haar
"""
import numpy as np
from sparsenet import frontend, theory

PREDICTION = 78 / 784


def measure(w, x, rho):
    A, _ = frontend.operators('cdf97', 1, (28, 28))
    w = np.tile(w, (len(x), 1)) if np.ndim(w) == 1 else np.asarray(w)
    return float(theory.linear_distortions(w, A, frontend.Sparsifier('cdf97', rho=rho).support(x))[0].mean())
