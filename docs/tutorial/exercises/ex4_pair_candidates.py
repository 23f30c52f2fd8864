"""Exercise 4 (chapter 4): the candidates of the multiclass locally linear attack.

Check: python docs/tutorial/check.py pair_candidates <this file>
"""
import numpy as np


def pair_candidates(W_eq, t, x, eps):
    """One candidate per class i: x + eps sgn(w_eq^i - w_eq^t), clipped to [0, 1].

    W_eq : (B, L, N) the locally linear model (row i: w_eq^i(x));  t : (B,) true classes
    x : (B, N);  eps : budget
    Returns (B, L, N). For i = t the difference is 0, so that candidate is x itself.
    """
    raise NotImplementedError
