"""Exercise 2b (chapter 2): predict, then measure, the front end's attenuation at K/N = 0.1.

Check: python docs/tutorial/check.py attenuation <this file>
"""
import numpy as np
from sparsenet import frontend, theory

# 1. Predict first, before you measure anything: for a RANDOM classifier w (i.i.d. Gaussian
#    entries) behind the Haar front end (level 1) that keeps K = floor(0.1 * 784) = 78
#    coefficients of each image, what is the mean semi-white box distortion
#    Delta_SW / (eps ||w||_1)? (Section 3.1; the checker accepts an answer within 0.01.)
PREDICTION = None


def measure(w, x, rho):
    """2. Measure it: the mean over the images of Delta_SW / (eps ||w||_1) = |sgn(w)^T P_K w| / ||w||_1,
    with P_K the projection onto the K = floor(rho N) Haar coefficients of each IMAGE.

    w : (N,) one classifier for every image, or (B, N) one per image;  x : (B, 28, 28) images
    in [0, 1];  rho : K / N.  Returns one float (within 0.005 of the checker's measurement).
    Tools: frontend.Sparsifier("haar", rho=rho).support(x), frontend.operators("haar", 1, (28, 28)),
    theory.linear_distortions.
    """
    raise NotImplementedError
