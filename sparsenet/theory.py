"""The paper's theory, computed: the linear classifier's attenuation (Section 3.1),
Theorem 1's high-SNR fraction (Section 3.4), Theorem 2's layer-wise bounds (Section 4)
and a certified radius derived from them.
"""
from __future__ import annotations

import numbers

import numpy as np

from .layers import PIECEWISE_LINEAR
from .models import Classifier, check_labels


def _network(model):
    """The network of ``model``: a network, or a Classifier without front end."""
    if isinstance(model, Classifier):
        if model.frontend is not None:
            raise ValueError("Theorem 2 bounds the network alone: pass the network, or clf.without_frontend(), "
                             "not a classifier with a front end")
        return model.net
    return model


def _finite(name, value, low=0.0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < low:
        raise ValueError(f"{name} must be a finite number >= {low:g}, got {value!r}")
    return float(value)


def _count(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def gammas(net):
    """gamma_j = max_i ||w_ij||_1 for every weighted layer j (Theorem 2).

    w_ij is the weight vector feeding neuron i of layer j: a column of a Dense ``W``
    (n_in, n_out), or one output channel's kernel over (k, k, C_in) for a Conv2D.
    ``net`` is a network or a Classifier without front end (as for every function here).
    """
    net = _network(net)
    out = []
    for layer in net.weighted:
        W = np.abs(layer.params["W"]).astype(np.float64)
        out.append(float(W.reshape(-1, W.shape[-1]).sum(axis=0).max()))
    return np.array(out)


def layer_bounds(net, eps):
    """Theorem 2, eq. (2): ||e_j||_inf <= eps prod_{l <= j} gamma_l.

    e_j is the change, caused by an input perturbation with ||e||_inf <= eps, of the
    output of weighted layer j *after* its ReLU (and max-pool, which is 1-Lipschitz in
    l-infinity and adds no factor); for the last (logit) layer, of its linear output.
    Returns one bound per weighted layer.
    """
    eps = _finite("eps", eps)
    net = _check_supported(net)
    return eps * np.cumprod(gammas(net))


def measured_layer_perturbations(net, x, x_perturbed):
    """||e_j||_inf per example (B, n_weighted): the measured counterpart of ``layer_bounds``,
    taken at the same points (after each weighted layer's ReLU and pool; logits last)."""
    net = _check_supported(net)
    a, b = _layer_outputs(net, x), _layer_outputs(net, x_perturbed)
    return np.stack([np.abs(u - v).reshape(len(u), -1).max(axis=1) for u, v in zip(a, b)], axis=1)


def _layer_outputs(net, x):
    """x_1 .. x_L of Section 4: the input of each weighted layer after the first (the
    previous block's output, after ReLU / pool / flatten), then the logits."""
    outs, h = [], net.check_input(x).astype(np.float64)
    first = net.weighted[0]
    for layer in net.layers:
        if "W" in layer.params and layer is not first:
            outs.append(h)
        h = layer.forward(h)
    outs.append(h)
    return outs


def _check_supported(net):
    """The network of ``net``, after checking it is made of layers Theorem 2 covers."""
    net = _network(net)
    bad = [type(l).__name__ for l in net.layers if not isinstance(l, PIECEWISE_LINEAR)]
    if bad:
        raise ValueError(f"Theorem 2 needs 1-Lipschitz non-linearities; unsupported layers: {bad}")
    return net


def certified_radius(net, x, y):
    """Per example, the largest eps for which Theorem 2 guarantees the prediction cannot
    change. This goes beyond the paper, and is a loose certificate.

    The logit bound is eps * Gamma with Gamma = prod_l gamma_l. Multiclass: each logit
    moves by at most eps * Gamma, so the margin y_t - max_{i != t} y_i must exceed
    2 eps Gamma: radius = margin / (2 Gamma). One logit (binary): the logit must keep its
    sign: radius = |y| / Gamma. Misclassified examples get radius 0.

    x : (B, 28, 28) images, y : (B,) integer labels; returns (B,) radii.
    """
    net = _check_supported(net)
    logits = net.forward(x).astype(np.float64)
    y = check_labels(y, len(logits), net.n_logits)
    Gamma = float(np.prod(gammas(net)))
    if logits.shape[1] == 1:
        signed = np.where(y == 1, logits[:, 0], -logits[:, 0])
        return np.maximum(signed, 0) / Gamma
    rows = np.arange(len(y))
    z = logits.copy()
    true = z[rows, y].copy()
    z[rows, y] = -np.inf
    return np.maximum(true - z.max(axis=1), 0) / (2 * Gamma)


def high_snr_fraction(N, M=200, delta=0.01, C=0.02, trials=5, rng=None):
    """Theorem 1 (Section 3.4) by Monte Carlo: the share of neurons i with
    |w_i^T x - b_i| > |w_i^T e| for an l-infinity perturbation ||e||_inf = delta.

    Assumptions as stated: w_i i.i.d. zero-mean unit-variance (Gaussian here), ||x||_2 = 1
    with bounded entries (x uniform on the sphere), and biases with
    delta <= |b_i| / ||w_i||_1 - C (we set |b_i| = (delta + C) ||w_i||_1, random signs).
    e is the worst case for each neuron, |w_i^T e| = delta ||w_i||_1. Returns the mean share
    over ``trials`` draws of M neurons.
    """
    N, M, trials = _count("N", N), _count("M", M), _count("trials", trials)
    delta, C = _finite("delta", delta), _finite("C", C)
    rng = np.random.default_rng(rng)
    shares = []
    for _ in range(trials):
        W = rng.standard_normal((M, N))
        x = rng.standard_normal(N)
        x /= np.linalg.norm(x)
        l1 = np.abs(W).sum(axis=1)
        b = (delta + C) * l1 * rng.choice([-1.0, 1.0], M)
        shares.append(np.mean(np.abs(W @ x - b) > delta * l1))
    return float(np.mean(shares))


def linear_distortions(w, A, support):
    """Section 3.1: a linear classifier y = w^T x behind a front end that keeps the K
    coefficients of x in ``support``. Returns (Delta_SW, Delta_W) / (eps ||w||_1), the
    distortions of the semi-white box attack e = eps sgn(w) and the white box attack
    e = eps sgn(P_K w), relative to the undefended eps ||w||_1; eps cancels.

    w : (T, N) classifiers; A : (N, N) orthonormal analysis operator (rows are the basis
    vectors psi_k, as ``frontend.operators`` returns it); support : (T, N) bool, the K
    coefficients x occupies. P_K w = A^T M A w, the orthogonal projection on span{psi_k}.
    """
    w, support = np.asarray(w, np.float64), np.asarray(support, bool)
    if w.ndim != 2 or support.shape != w.shape or A.shape != (w.shape[1],) * 2:
        raise ValueError(f"need w (T, N), support (T, N) and A (N, N); got {w.shape}, {support.shape}, {A.shape}")
    p = ((w @ A.T) * support) @ A
    l1 = np.abs(w).sum(axis=1)
    return np.abs((np.sign(w) * p).sum(axis=1)) / l1, np.abs(p).sum(axis=1) / l1
