"""The locally linear model of a ReLU network (Sections 3.2-3.6).

ReLU and max-pool units are switches: once their states s(x) are fixed, every layer
is linear, so each logit is an affine function of the input,

    y_i(x) = w_eq^{i}(x)^T x - b_eq^{i}(x),    i = 1..L        (Section 3.2, Figure 4)

with w_eq and b_eq depending on x only through the switches. Here W_eq has shape
(B, L, N): one row w_eq^{i}(x) per logit, N = 784 input pixels.

The sign of b_eq follows the paper (y = w^T x - b): b_eq = W_eq x - y.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .layers import PIECEWISE_LINEAR, MaxPool2D, ReLU
from .models import Classifier


def equivalent_linear(model, x, batch_size=500):
    """W_eq(x) : (B, L, N) and b_eq(x) : (B, L) with y(x) = W_eq(x) x - b_eq(x).

    ``model`` is a network, or a ``Classifier`` without front end (for example
    ``parallel.DataParallel(net)``, to run the passes on all cores), made of piecewise-linear
    layers (``layers.PIECEWISE_LINEAR``); x : (B, 28, 28), B >= 0. ``fc2`` and ``fc10``
    use the closed form of Section 3.2; any other network is handled by
    :func:`propagate_equivalent_linear`.
    """
    net = _network(model)
    if net.arch in ("fc2", "fc10"):
        return fc2_equivalent_linear(net, x)
    return propagate_equivalent_linear(model, x, batch_size)


def _network(model):
    """The network of ``model``, after checking that it has a locally linear model."""
    if isinstance(model, Classifier):
        if model.frontend is not None:
            raise ValueError("w_eq(x) is the network's own locally linear model: pass the network, or "
                             "clf.without_frontend(), not a classifier with a front end")
        model = model.net
    bad = [type(l).__name__ for l in model.layers if not isinstance(l, PIECEWISE_LINEAR)]
    if bad:
        raise ValueError(f"w_eq(x) needs a piecewise-linear network (layers "
                         f"{', '.join(c.__name__ for c in PIECEWISE_LINEAR)}, Flatten); unsupported layers: {bad}")
    return model


def _empty(net):
    """W_eq and b_eq of no images: (0, L, N) and (0, L)."""
    L, N = net.n_logits, int(np.prod(net.input_shape))
    return np.zeros((0, L, N), net.dtype), np.zeros((0, L), net.dtype)


def fc2_equivalent_linear(net, x):
    """Closed form for the one-hidden-layer network (Section 3.2, Figure 3):

        w_eq = sum_i s_i(x) w0[i] w_i,    b_eq = sum_i s_i(x) w0[i] b_i - c0

    where s(x) is the ReLU switch vector, w_i the i-th hidden unit's weights, w0 the
    output weights. Our layers add their biases (paper: w_i^T x - b_i), so the
    paper's b_i is ``-b1[i]``; the output bias c0, absent from the paper, joins b_eq.
    """
    net = _network(net)
    x = net.check_input(x)
    if len(x) == 0:            # the layers keep no switches of no images
        return _empty(net)
    first, relu, last = net.weighted[0], net.relus[0], net.weighted[1]
    y = net.forward(x)  # sets relu.switch
    W1, b1 = first.params["W"], first.params["b"]           # (N, M), (M,)
    w0, c0 = last.params["W"], last.params["b"]             # (M, L), (L,)
    s = relu.switch.astype(W1.dtype)                         # (B, M)
    # sum_i s_i w0[i, l] w_i for every logit l, as one product: (B, L, M) @ (M, N)
    W_eq = (s[:, None, :] * w0.T[None]) @ W1.T
    b_eq = -(s * b1) @ w0 - c0
    return W_eq, b_eq.reshape(len(y), -1)


def propagate_equivalent_linear(model, x, batch_size=500):
    """W_eq(x) and b_eq(x) for any network of linear layers, ReLUs and max-pools.

    With the switches frozen at x the network is linear, and its backward pass is
    multiplication by the transposed Jacobian, i.e. by W_eq(x)^T. So the L rows of
    W_eq come from one backward pass with the L unit seeds, run for all logits at
    once: each example is repeated L times in the batch (all copies share the
    switches of x), and copy i is seeded with e_i. ``model`` is a network or a
    ``Classifier`` without front end, whose ``forward``/``backward`` run the passes.
    """
    net = _network(model)
    clf = model if isinstance(model, Classifier) else Classifier(net)
    x = net.check_input(x)     # before np.repeat, which would make rows of an image without batch axis
    if len(x) == 0:
        return _empty(net)
    L, N = net.n_logits, int(np.prod(net.input_shape))
    W_eq = np.empty((len(x), L, N), dtype=net.dtype)
    y = np.empty((len(x), L), dtype=net.dtype)
    per_chunk = max(1, batch_size // L)
    for start in range(0, len(x), per_chunk):
        xb = x[start:start + per_chunk]
        logits = clf.forward(np.repeat(xb, L, axis=0))
        seeds = np.tile(np.eye(L, dtype=net.dtype), (len(xb), 1))
        W_eq[start:start + len(xb)] = clf.backward(seeds).reshape(len(xb), L, N)
        y[start:start + len(xb)] = logits[::L]
    b_eq = np.einsum("bln,bn->bl", W_eq, x.reshape(len(x), N).astype(net.dtype)) - y
    return W_eq, b_eq


def pair_difference(W_eq, b_eq, t):
    """The locally linear model of y_i - y_t for every class i (Section 3.6).

    W_eq : (B, L, N), b_eq : (B, L), t : (B,) true classes. Returns
    (B, L, N) rows w_eq^{i} - w_eq^{t} and (B, L) offsets b_eq^{i} - b_eq^{t}; row t is zero.
    """
    rows = np.arange(len(t))
    return W_eq - W_eq[rows, t][:, None], b_eq - b_eq[rows, t][:, None]


class Flips(NamedTuple):
    """Switches of one layer that differ between x and x + e."""
    layer: str      # e.g. "relu1", "pool2"
    flipped: np.ndarray  # (B,) flipped switches per example
    size: int       # switches per example


def switch_states(net):
    """Copies of every ReLU and max-pool switch from ``net``'s last forward pass,
    keyed "relu1", "pool1", "relu2"... in network order."""
    states, counts = {}, {"relu": 0, "pool": 0}
    for layer in net.layers:
        kind = "relu" if isinstance(layer, ReLU) else "pool" if isinstance(layer, MaxPool2D) else None
        if kind:
            counts[kind] += 1
            states[f"{kind}{counts[kind]}"] = layer.switch.copy()
    return states


def switch_flips(net, x, x_perturbed):
    """Per layer, how many switches flip between x and x + e (Section 3.4).

    Zero flips everywhere means the perturbation stayed in the high-SNR regime:
    y(x + e) = W_eq(x)(x + e) - b_eq(x) exactly.
    """
    net.forward(x)
    before = switch_states(net)
    net.forward(x_perturbed)
    after = switch_states(net)
    return [Flips(name, (before[name] != after[name]).reshape(len(x), -1).sum(axis=1),
                  int(np.prod(before[name].shape[1:])))
            for name in before]
