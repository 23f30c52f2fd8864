"""The textbook versions of the convolution and max-pool layers, written as plain loops,
and of the front end's support M_x, written as a sort.

Read these first: they say what ``layers.Conv2D``, ``layers.MaxPool2D`` and
``frontend.Sparsifier``'s support compute, with no buffers, blocks, partitions or strided
tricks. The fast versions are tested against them (``tests/test_layers.py``,
``tests/test_frontend.py``); the loops are far too slow for training.

Images are channels-last, ``x : (B, H, W, C)``, as in ``layers``. Each function takes
the arrays it needs and returns plain arrays (the cs231n ``forward -> (out, cache)``,
``backward(dout, cache)`` pattern, with the cache spelled out as arguments).
"""
from __future__ import annotations

import numpy as np


def _padding(k, padding):
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    return k // 2 if padding == "same" else 0


def conv2d_forward(x, W, b, padding="same"):
    """y[n, h, w, o] = sum_{i, j, c} x_pad[n, h + i, w + j, c] W[i, j, c, o] + b[o].

    x : (B, H, W, C_in), W : (k, k, C_in, C_out), b : (C_out,) -> y : (B, H', W', C_out),
    with H' = H (``'same'``, zero padding of k // 2) or H - k + 1 (``'valid'``).
    """
    k, _, _, n_out = W.shape
    p = _padding(k, padding)
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    B, Hp, Wp, C = xp.shape
    y = np.zeros((B, Hp - k + 1, Wp - k + 1, n_out), dtype=np.result_type(x, W))
    for n in range(B):
        for h in range(y.shape[1]):
            for w in range(y.shape[2]):
                window = xp[n, h:h + k, w:w + k, :]                # (k, k, C_in)
                for o in range(n_out):
                    y[n, h, w, o] = np.sum(window * W[:, :, :, o]) + b[o]
    return y


def conv2d_backward(grad, x, W, padding="same"):
    """The gradients of a scalar J through ``conv2d_forward``, given g = dJ/dy.

    Each output y[n, h, w, o] read the window x_pad[n, h:h+k, w:w+k, :] through W[..., o],
    so it sends g[n, h, w, o] W[..., o] back to that window and g[n, h, w, o] times the
    window to dW[..., o]; db[o] sums g over every position. Returns (dx, dW, db).
    """
    k = W.shape[0]
    p = _padding(k, padding)
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    dxp, dW = np.zeros(xp.shape, dtype=grad.dtype), np.zeros(W.shape, dtype=grad.dtype)
    B, Ho, Wo, n_out = grad.shape
    for n in range(B):
        for h in range(Ho):
            for w in range(Wo):
                for o in range(n_out):
                    g = grad[n, h, w, o]
                    dxp[n, h:h + k, w:w + k, :] += g * W[:, :, :, o]
                    dW[:, :, :, o] += g * xp[n, h:h + k, w:w + k, :]
    db = grad.sum(axis=(0, 1, 2))
    H, Wd = x.shape[1:3]
    return dxp[:, p:p + H, p:p + Wd, :], dW, db


def maxpool_forward(x):
    """2x2 max-pooling, stride 2, and its switch (Section 3.2).

    x : (B, H, W, C), H and W even -> (y, switch), both (B, H/2, W/2, C): y is the largest
    of each window's four inputs, and ``switch`` which one it was, as 2 * row + col inside
    the window (row-major; of equal inputs, the first wins).
    """
    B, H, W, C = x.shape
    y = np.zeros((B, H // 2, W // 2, C), dtype=x.dtype)
    switch = np.zeros((B, H // 2, W // 2, C), dtype=np.uint8)
    for n in range(B):
        for h in range(H // 2):
            for w in range(W // 2):
                for c in range(C):
                    window = [x[n, 2 * h + r, 2 * w + s, c] for r in (0, 1) for s in (0, 1)]
                    best = int(np.argmax(window))                   # the first of equal maxima
                    y[n, h, w, c], switch[n, h, w, c] = window[best], best
    return y, switch


def maxpool_backward(grad, switch, shape):
    """dJ/dx for g = dJ/dy: each output's gradient goes to the one input its switch chose;
    the other three inputs of the window get 0. ``shape`` is the input's (B, H, W, C)."""
    dx = np.zeros(shape, dtype=grad.dtype)
    B, Ho, Wo, C = grad.shape
    for n in range(B):
        for h in range(Ho):
            for w in range(Wo):
                for c in range(C):
                    r, s = divmod(int(switch[n, h, w, c]), 2)
                    dx[n, 2 * h + r, 2 * w + s, c] = grad[n, h, w, c]
    return dx


def top_k_support(c, K):
    """M_x of the front end H_K: the K coefficients of each row of c (B, N) largest in
    magnitude, as a boolean (B, N) mask. Ties: sort each row by decreasing |c| with a stable
    sort (equal magnitudes keep their index order) and keep the first K, so of equal
    magnitudes the lower index is kept first."""
    c = np.asarray(c)
    mask = np.zeros(c.shape, dtype=bool)
    for b in range(len(c)):
        order = np.argsort(-np.abs(c[b]), kind="stable")
        mask[b, order[:K]] = True
    return mask
