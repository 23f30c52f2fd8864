"""A deliberately wrong answer: the first eps of a grid of step 0.05.

Checker says: a grid that coarse
"""
import numpy as np
from sparsenet import attacks


def halving_eps(clf, x, y):
    half = np.mean(clf.predict(x) == y) / 2
    for eps in np.arange(0.05, 1.0, 0.05):
        eps = round(float(eps), 2)
        x_adv = attacks.locally_linear(clf, x, y, eps, log=None)
        if attacks.evaluate(clf, x, y, x_adv, eps=eps)['robust_accuracy'] <= half:
            return eps
    return 1.0
