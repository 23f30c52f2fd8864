"""Exercise 5b (chapter 5): at which eps does the robust accuracy halve?

Check: python docs/tutorial/check.py halving_eps <this file>
(the checker trains chapter 5's networks: it needs the MNIST data, like the chapters)
"""
import numpy as np
from sparsenet import attacks


def halving_eps(clf, x, y):
    """The smallest eps at which the robust accuracy of ``clf`` on (x, y) under the one-step
    locally linear attack (attacks.locally_linear, semi-white box, the default) is at most
    half its clean accuracy.

    clf : a models.Classifier;  x : (n, 28, 28) images;  y : (n,) labels.
    Returns one float, within 0.01 of the checker's answer. Robust accuracy:
    attacks.evaluate(clf, x, y, x_adv, eps=eps)["robust_accuracy"]. The curve falls with eps:
    bisection on [0, 0.6] finds the crossing in a dozen attacks.
    """
    raise NotImplementedError
