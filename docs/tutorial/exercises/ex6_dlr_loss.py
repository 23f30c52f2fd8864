"""Exercise 6 (chapter 6): the DLR loss of Croce & Hein (2020).

Check: python docs/tutorial/check.py dlr_loss <this file>
"""
import numpy as np


def dlr_loss(logits, y):
    """DLR(z, y) = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), per example.

    logits : (B, L) with L >= 3;  y : (B,) true classes
    pi sorts the logits in decreasing order (z_pi1 the largest, z_pi3 the third largest).
    Returns (B,). (The library adds 1e-12 to the denominator; you need not.)
    """
    raise NotImplementedError
