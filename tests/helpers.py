"""Helpers shared by the tests: central finite differences in float64, and a small float64
multiclass network with images it classifies."""
import numpy as np

from sparsenet.layers import Dense, Flatten, ReLU
from sparsenet.models import Sequential


# -- gradient checks ------------------------------------------------------------------------
def numerical_grad(f, arr, indices, h=1e-6):
    """d f / d arr[i] for each flat index i, perturbing ``arr`` in place and restoring it."""
    flat = arr.reshape(-1)
    out = np.empty(len(indices))
    for n, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        out[n] = (fp - fm) / (2 * h)
    return out


def rel_error(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def sample(size, n, rng):
    return rng.choice(size, size=min(n, size), replace=False)


# -- a small network ------------------------------------------------------------------------
def mlp(seed=0, classes=10, hidden=16):
    """A small float64 multiclass network (784 -> hidden ReLU -> classes), random biases."""
    rng = np.random.default_rng(seed)
    net = Sequential([Flatten(), Dense(784, hidden, rng=seed, dtype=np.float64), ReLU(),
                      Dense(hidden, classes, rng=seed + 1, dtype=np.float64)], arch="mlp", dtype=np.float64)
    for layer in net.weighted:
        layer.params["b"][:] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    return net


def own_labels(clf, n=12, seed=1):
    """Images and the labels the classifier gives them: every example starts correct."""
    x = np.random.default_rng(seed).random((n, 28, 28))
    return x, clf.predict(x)
