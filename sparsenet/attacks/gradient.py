"""Gradient-sign attacks: FGSM, iterative FGSM, PGD and MI-FGSM (Section 5's list).

All iterate x_{k+1} = Π(x_k + δ sgn(d_k)) with Π the projection on the ε-ball and
[0, 1]; they differ in the start (x or a random point) and the direction d_k (the loss
gradient, or MI-FGSM's momentum). Each can report the first misclassified iterate of an
example ("any iterate"), which a robustness evaluation counts as a success.
"""
from __future__ import annotations

import numpy as np

from ..models import predictions
from .common import attack_score, batches, check_inputs, loss_gradient, project, random_start, selected


def fgsm(clf, x, y, eps, batch_size=500):
    """FGSM (Goodfellow et al. 2015): x + ε sgn(∇_x J(x, y)), clipped to [0, 1]."""
    x, y = check_inputs(clf, x, y, eps)
    out = np.empty_like(x)
    for b in batches(len(x), batch_size):
        _, g = loss_gradient(clf, x[b], y[b])
        out[b] = project(x[b] + eps * np.sign(g), x[b], eps)
    return out


def _plain_gradient(n):
    return lambda idx, g: g


def _iterate(clf, x, y, eps, delta, iterations, start, make_direction, stop_on_success, batch_size,
             with_first_success=False):
    """The loop shared by I-FGSM, PGD and MI-FGSM: x_{k+1} = Π(x_k + δ sgn(d_k)).

    ``start(b)`` gives the first iterate of batch slice b; ``make_direction(n)`` makes,
    per batch, a function (idx, grad) -> d_k that may keep per-example state (momentum).
    With ``stop_on_success`` an example misclassified at some iterate is frozen there.
    ``with_first_success`` also returns, per example, the first misclassified iterate (the
    final one where none was): what ``stop_on_success`` would return, from the same run,
    at the cost of one extra forward pass (each step's gradient pass already gives the
    current iterate's logits).
    """
    out = np.empty_like(x)
    first = np.empty_like(x) if with_first_success else None
    for b in batches(len(x), batch_size):
        xb, yb = x[b], y[b]
        xa = start(b)
        active = np.ones(len(xb), bool)
        found = np.zeros(len(xb), bool)      # with_first_success: first iterate recorded
        fb = xa.copy() if with_first_success else None
        direction = make_direction(len(xb))
        for _ in range(iterations):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            logits, g = loss_gradient(clf, xa[idx], yb[idx])
            hit = predictions(logits) != yb[idx]
            if with_first_success:
                new = idx[hit & ~found[idx]]
                fb[new], found[new] = xa[new], True
            if stop_on_success:
                active[idx[hit]] = False
                idx, g = idx[~hit], g[~hit]
                if not len(idx):
                    break
            d = direction(idx, g)
            xa[idx] = project(xa[idx] + delta * np.sign(d), xb[idx], eps)
        out[b] = xa
        if with_first_success:
            rest = ~found                      # not fooled before: the final iterate stands
            fb[rest] = xa[rest]
            first[b] = fb
    return (out, first) if with_first_success else out


def iterative_fgsm(clf, x, y, eps, delta, iterations, stop_on_success=False, batch_size=500,
                   with_first_success=False):
    """Iterative FGSM (Kurakin et al. 2017): from x, steps δ sgn ∇J, each projected into
    the ε-ball and [0, 1]. ``stop_on_success`` freezes an example at the first
    misclassified iterate (keeps the adversarial found: never weaker than the final
    iterate). ``with_first_success`` returns (final iterates, first misclassified
    iterates) from one run."""
    x, y = check_inputs(clf, x, y, eps, delta, iterations)
    return _iterate(clf, x, y, eps, delta, iterations, lambda b: x[b].copy(),
                    _plain_gradient, stop_on_success, batch_size, with_first_success)


def pgd(clf, x, y, eps, delta, iterations, restarts=1, rng=None, stop_on_success=False, batch_size=500,
        with_first_success=False, only=None):
    """PGD (Madry et al. 2018): a uniform random start in the ε-ball (clipped to [0, 1]),
    then I-FGSM steps. With ``restarts`` > 1 each example keeps its worst case
    (misclassified, else the highest loss). ``rng``: seed or Generator; the starts are
    drawn for every example, so ``only`` (attack just these, see ``common.selected``)
    changes nothing for the examples attacked. ``with_first_success``: as in
    ``iterative_fgsm`` (each restart's first iterates compete like the final ones)."""
    x, y = check_inputs(clf, x, y, eps, delta, iterations)
    if not (isinstance(restarts, (int, np.integer)) and restarts >= 1):
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    rng = np.random.default_rng(rng)
    idx = selected(only, len(x))
    xs, ys = x[idx], y[idx]
    best, best_score = x.copy(), np.full(len(x), -np.inf)
    best_first, best_first_score = x.copy(), np.full(len(x), -np.inf)
    for _ in range(restarts):
        x0 = random_start(x, eps, rng)[idx]
        xa = _iterate(clf, xs, ys, eps, delta, iterations, lambda b: x0[b].copy(),
                      _plain_gradient, stop_on_success, batch_size, with_first_success)
        xa, xf = xa if with_first_success else (xa, None)
        for points, keep, keep_score in ((xa, best, best_score), (xf, best_first, best_first_score)):
            if points is None:
                continue
            score = attack_score(clf, points, ys, batch_size)
            better = score > keep_score[idx]
            keep[idx[better]], keep_score[idx[better]] = points[better], score[better]
    return (best, best_first) if with_first_success else best


def mi_fgsm(clf, x, y, eps, delta, iterations, mu=1.0, stop_on_success=False, batch_size=500,
            with_first_success=False):
    """MI-FGSM (Dong et al. 2018): g_{k+1} = μ g_k + ∇J / ||∇J||_1 (per example), step
    δ sgn(g_{k+1}). ``stop_on_success``, ``with_first_success``: as in ``iterative_fgsm``."""
    x, y = check_inputs(clf, x, y, eps, delta, iterations)

    def momentum(n):
        g_acc = np.zeros((n,) + x.shape[1:], dtype=np.float64)

        def direction(idx, g):
            g_acc[idx] = momentum_step(g_acc[idx], g, mu)
            return g_acc[idx]
        return direction

    return _iterate(clf, x, y, eps, delta, iterations, lambda b: x[b].copy(), momentum,
                    stop_on_success, batch_size, with_first_success)


def momentum_step(accumulated, grad, mu):
    """MI-FGSM's update, per example: μ g_k + ∇J / ||∇J||_1 (the l1 norm over each example's
    pixels; an all-zero gradient adds nothing)."""
    l1 = np.abs(grad).reshape(len(grad), -1).sum(axis=1).astype(np.float64)
    return mu * accumulated + grad / np.maximum(l1, 1e-12).reshape((-1,) + (1,) * (grad.ndim - 1))
