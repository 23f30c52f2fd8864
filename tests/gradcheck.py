"""Central finite differences in float64, shared by the gradient-check tests."""
import numpy as np


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
