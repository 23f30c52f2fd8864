"""Reference solution of exercise 2b (chapter 2)."""
import numpy as np
from sparsenet import frontend, theory

PREDICTION = 78 / 784        # K/N: for a random w the semi-white box distortion shrinks by K/N (Section 3.1)


def measure(w, x, rho):
    support = frontend.Sparsifier("haar", rho=rho).support(x)       # each image's K coefficients
    A, _ = frontend.operators("haar", 1, (28, 28))                   # orthonormal: P_K = A^T M A
    w = np.tile(w, (len(x), 1)) if np.ndim(w) == 1 else np.asarray(w)
    semi_white, _ = theory.linear_distortions(w, A, support)
    return float(semi_white.mean())
