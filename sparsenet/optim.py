"""Optimizers: SGD with momentum and Adam. Both update parameters in place.

An optimizer is given the list of parameter arrays once and, at each ``step``, the
matching list of gradients.
"""
from __future__ import annotations

import numpy as np


class SGD:
    """v <- mu v - lr g;  theta <- theta + v."""

    def __init__(self, params, lr=0.01, momentum=0.9):
        _check_lr(lr)
        _check_unit("momentum", momentum)
        self.params, self.lr, self.momentum = list(params), lr, momentum
        self.velocity = [np.zeros_like(p) for p in self.params]

    def step(self, grads):
        grads = _check_grads(self.params, grads)
        for p, g, v in zip(self.params, grads, self.velocity):
            self._update(p, g, v)

    def _update(self, p, g, v):
        v *= self.momentum
        v -= p.dtype.type(self.lr) * g
        p += v


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        _check_lr(lr)
        _check_unit("beta1", beta1)
        _check_unit("beta2", beta2)
        if not (_is_number(eps) and eps >= 0):
            raise ValueError(f"eps must be a number >= 0, got {eps!r}")
        self.params, self.lr = list(params), lr
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self._tmp = [np.empty_like(p) for p in self.params]
        self.t = 0

    def step(self, grads):
        """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
        theta <- theta - lr_t m / (sqrt(v) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t).

        In place, through one scratch array per parameter: every step is a handful of
        passes over memory and allocates nothing."""
        grads = _check_grads(self.params, grads)
        self.t += 1
        self._lr_t = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self._tmp):
            self._update(p, g, m, v, tmp)

    def _update(self, p, g, m, v, tmp):
        c, b1, b2 = p.dtype.type, self.beta1, self.beta2
        m *= c(b1)
        np.multiply(g, c(1 - b1), out=tmp)
        m += tmp
        v *= c(b2)
        np.multiply(g, g, out=tmp)
        tmp *= c(1 - b2)
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += c(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= c(self._lr_t)
        p -= tmp


def _check_grads(params, grads):
    """One gradient per parameter, of its shape: zip() would silently skip the rest."""
    grads = list(grads)
    if len(grads) != len(params) or any(g.shape != p.shape for p, g in zip(params, grads)):
        raise ValueError(f"expected gradients for the {len(params)} parameters, of their shapes; got {len(grads)} "
                         f"with shapes {[np.shape(g) for g in grads]}")
    return grads


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def _check_lr(lr):
    if not (_is_number(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")


def _check_unit(name, value):
    if not (_is_number(value) and 0 <= value < 1):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
