"""Exercise 2 (chapter 2): the sparsifying front end H_K.

Check: python docs/tutorial/check.py top_k <this file>
"""
import numpy as np


def sparsify(x, A, S, K):
    """H_K(x) = clip(S (M_x * (A x)), 0, 1), for every row of x.

    x : (B, N) flattened images in [0, 1]
    A : (N, N) analysis operator (coefficients c = A x);  S : (N, N) synthesis (x = S c)
    K : how many coefficients to keep: the K largest IN MAGNITUDE of each image, exactly K.
        Ties at the K-th magnitude: the coefficient with the LOWER index in c is kept first
        (the first K of a stable sort by decreasing |c|; np.argsort's default is not stable).
    Returns (B, N). Rows: c_rows = x @ A.T and x_rows = c_rows @ S.T.
    """
    raise NotImplementedError
