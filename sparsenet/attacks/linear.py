"""The locally linear attacks of Sections 3.5 and 3.6.

Once the switches of ReLUs and max-pools are fixed at a point x1, every logit is affine
in the input: y_i = w_eq^{i}(x1)^T x - b_eq^{i}(x1) (``linear_model``). The attacker
spends the budget along the sign of that linear model, or of its projection P_K through
the front end (white box).
"""
from __future__ import annotations

import numpy as np

from ..linear_model import equivalent_linear, pair_difference
from ..progress import Progress, stderr
from .common import batches, check_inputs, check_settings, margin, project, selected


def locally_linear(clf, x, y, eps, mode="semi-white", iterations=1, delta=None, batch_size=200, only=None,
                   log=stderr):
    """The locally linear attack (Sections 3.5, 3.6) and its iterative version.

    Semi-white box, A_SW(x1, ε) = ε sgn(w_eq(x1)): the attacker knows the network but
    not the front end, so w_eq is the network's locally linear model at the raw x1.
    White box, A_W(x1, ε) = ε sgn(P_K(w_eq(x1), x1)): the attacker knows the front end,
    so w_eq is the network's model at the front end's output F(x1) (what the network
    sees) carried back by P_K. Without a front end the two coincide.

    Binary (one logit): the direction pushes the logit towards the wrong class.
    Multiclass: one candidate per class i != t from w_eq^{i} - w_eq^{t}; all are run
    through the real classifier and each example keeps the candidate with the largest
    max_j (y_j - y_t) (Section 3.6's worst-case pair).

    Iterative (``iterations`` > 1, step ``delta``): e_{k+1} = clip_ε(e_k + A(x + e_k, δ)),
    with x1 = x + e_k, kept in [0, 1].

    ``only``: attack just these examples (``common.selected``); ``log``: progress lines.
    """
    if mode not in ("semi-white", "white"):
        raise ValueError(f"mode must be 'semi-white' or 'white', got {mode!r}")
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(iterations=iterations, batch_size=batch_size)
    iterations = s["iterations"]
    if iterations > 1 and delta is None:
        raise ValueError("the iterative locally linear attack needs a step size delta")
    if delta is not None:
        delta = check_settings(delta=delta)["delta"]
    step = eps if iterations == 1 else delta
    idx = selected(only, len(x))
    out = x.copy()
    report = Progress("locally linear attack", len(idx), log, "images")
    for b in batches(len(idx), s["batch_size"]):
        i = idx[b]
        xb, yb, xa = x[i], y[i], x[i].copy()
        for _ in range(iterations):
            xa = project(_linear_step(clf, xa, yb, step, mode), xb, eps)
        out[i] = xa
        report.update(b.stop)
    report.finish()
    return out


def _linear_step(clf, x1, y, step, mode):
    """x1 + A(x1, step) for every example: the best candidate for multiclass."""
    front = clf.frontend if mode == "white" else None
    seen = x1 if front is None else front(x1)
    W_eq, b_eq = equivalent_linear(clf.without_frontend(), seen)      # (B, L, N)
    if clf.n_logits == 1:
        direction = W_eq[:, 0] * np.where(y == 1, -1, 1)[:, None]      # push to the wrong side
        if front is not None:
            direction = front.project(direction, x1)
        return np.clip(x1 + step * np.sign(direction).reshape(x1.shape), 0, 1)
    D, _ = pair_difference(W_eq, b_eq, y)                              # rows w^i - w^t
    if front is not None:
        D = front.project(D, x1)
    B, L = D.shape[:2]
    cands = np.clip(x1[:, None] + step * np.sign(D).reshape(B, L, *x1.shape[1:]), 0, 1)
    cands = cands.astype(x1.dtype, copy=False)
    logits = clf.forward(cands.reshape(B * L, *x1.shape[1:]))
    margins = margin(logits, np.repeat(y, L)).reshape(B, L)
    margins[np.arange(B), y] = -np.inf                                 # i = t is no candidate
    return cands[np.arange(B), margins.argmax(axis=1)]
