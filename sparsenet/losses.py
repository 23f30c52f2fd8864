"""Losses and weight penalties. Each loss returns ``(value, d value / d logits)``.

``reduction='mean'`` (training) averages over the batch; ``'sum'`` gives every
example the gradient of its own loss, which is what attacks want.
"""
from __future__ import annotations

import numpy as np


def _check(logits, labels):
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"expected logits (B, L) and labels (B,), got {logits.shape} and {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    n_classes = max(logits.shape[1], 2)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes - 1}], got range "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def softmax_cross_entropy(logits, labels, reduction="mean"):
    """J = -log p_t with p = softmax(y) (Section 3.6); dJ/dy = p - onehot(t).

    The true class's entry p_t - 1 is computed as -sum_{k != t} p_k: for a confident
    example p_t rounds to 1 and p_t - 1 to 0 in float32, which would silently drop
    -w_eq^{t} from the FGSM direction (Section 3.6's formula).
    """
    labels = _check(logits, labels)
    z = logits - logits.max(axis=1, keepdims=True)  # shift: exp never overflows
    logsum = np.log(np.exp(z).sum(axis=1))
    rows = np.arange(len(labels))
    losses = logsum - z[rows, labels]
    grad = np.exp(z - logsum[:, None])
    grad[rows, labels] = 0
    grad[rows, labels] = -grad.sum(axis=1)
    return _reduce(losses, grad, reduction)


def sigmoid_cross_entropy(logits, labels, reduction="mean"):
    """One-logit binary cross-entropy, class 1 when y > 0.

    J = softplus(y) - l y, written as max(y, 0) - l y + log(1 + e^{-|y|}) so it never
    overflows; dJ/dy = sigmoid(y) - l.
    """
    labels = _check(logits, labels)
    if logits.shape[1] != 1:
        raise ValueError(f"sigmoid cross-entropy needs one logit, got {logits.shape[1]}")
    y = logits[:, 0]
    l = labels.astype(logits.dtype)
    losses = np.maximum(y, 0) - l * y + np.log1p(np.exp(-np.abs(y)))
    # sigmoid(y) - 1 = -sigmoid(-y), written so that it does not round to 0 for large y.
    grad = np.where(labels == 1, -_sigmoid(-y), _sigmoid(y))[:, None]
    return _reduce(losses, grad, reduction)


def cross_entropy(logits, labels, reduction="mean"):
    """Sigmoid cross-entropy for a one-logit (binary) network, softmax otherwise."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        return sigmoid_cross_entropy(logits, labels, reduction)
    return softmax_cross_entropy(logits, labels, reduction)


def _sigmoid(y):
    e = np.exp(-np.abs(y))
    return np.where(y >= 0, 1 / (1 + e), e / (1 + e))


def _reduce(losses, grad, reduction):
    if reduction == "mean":
        n = max(len(losses), 1)
        return float(losses.mean()) if len(losses) else 0.0, grad / grad.dtype.type(n)
    if reduction == "sum":
        return float(losses.sum()), grad
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def weight_penalty(layers, add_grads=True):
    """Sum over layers of l2 * ||W||_2^2 + l1 * ||W||_1 (biases are not penalised).

    Each layer carries its own ``l1`` and ``l2`` strengths (Section 4's network
    sparsity is the l1 term). With ``add_grads`` the penalty's gradient
    (2 l2 W + l1 sgn W) is added to ``layer.grads['W']``.
    """
    total = 0.0
    for layer in layers:
        l1, l2 = getattr(layer, "l1", 0.0), getattr(layer, "l2", 0.0)
        if not (l1 or l2):
            continue
        W = layer.params["W"]
        total += l2 * float(np.vdot(W, W)) + l1 * float(np.abs(W).sum())
        if add_grads:
            g = layer.grads["W"]
            if l2:
                g += W.dtype.type(2 * l2) * W
            if l1:
                g += W.dtype.type(l1) * np.sign(W)
    return total
