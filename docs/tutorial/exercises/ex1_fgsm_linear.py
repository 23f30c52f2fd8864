"""Exercise 1 (chapter 1): FGSM for a linear classifier.

Check: python docs/tutorial/check.py fgsm_linear <this file>
"""
import numpy as np


def fgsm_linear(x, w, b, y, eps):
    """FGSM against the binary linear classifier y(x) = w^T x + b (class 1 when y(x) > 0).

    x : (B, N) images in [0, 1], flattened;  w : (N,);  b : float
    y : (B,) true labels in {0, 1};  eps : the l-infinity budget
    Returns x_adv : (B, N), each image moved by eps along the sign of the gradient of its
    cross-entropy loss (towards the other class), clipped to [0, 1].
    Hint: for a linear model the gradient is a scalar times w; which sign does the scalar have?
    And where a weight is exactly 0 (most of a sparse network's are), the gradient is 0.
    """
    raise NotImplementedError
