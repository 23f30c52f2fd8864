"""A deliberately wrong answer: takes the support from w's coefficients, not the image's.

Checker says: the support is the IMAGE's
"""
import numpy as np
from sparsenet import frontend, theory

PREDICTION = 78 / 784


def measure(w, x, rho):
    A, _ = frontend.operators('haar', 1, (28, 28))
    w = np.tile(w, (len(x), 1)) if np.ndim(w) == 1 else np.asarray(w)
    K = frontend.Sparsifier('haar', rho=rho).K
    c = w @ A.T
    support = np.zeros(c.shape, bool)
    np.put_along_axis(support, np.argsort(-np.abs(c), axis=1, kind='stable')[:, :K], True, axis=1)
    return float(theory.linear_distortions(w, A, support)[0].mean())
