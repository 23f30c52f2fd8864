"""Exercise 7 (chapter 7): Theorem 2's layer-wise bounds.

Check: python docs/tutorial/check.py theorem2_bounds <this file>
"""
import numpy as np


def theorem2_bounds(weights, eps):
    """||e_j||_inf <= eps * gamma_1 * ... * gamma_j, gamma_l = max_i ||w_il||_1.

    weights : list of J Dense weight matrices, W_l of shape (n_in, n_out); column i,
      W_l[:, i], holds the weights feeding neuron i (the paper's w_il)
    eps : the input perturbation's l-infinity budget
    Returns (J,) the bound after every layer.
    """
    raise NotImplementedError
