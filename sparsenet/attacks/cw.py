"""Carlini & Wagner's l2 attack (2017), untargeted, on logits (Appendix B.3, Figure 7)."""
from __future__ import annotations

import time

import numpy as np

from ..models import predictions
from .common import batches, check_inputs, two_class


def carlini_wagner_l2(clf, x, y, confidence=0.0, lr=1e-2, initial_const=1e-3, binary_steps=9,
                      max_iterations=1000, abort_early=True, batch_size=500, log=None):
    """Carlini & Wagner's ℓ2 attack (2017), untargeted, on logits.

    x_adv = (tanh(w) + 1) / 2; minimise ||x_adv - x||_2^2 + c f(x_adv) with
    f = max(Z_t - max_{i != t} Z_i, -κ); the best other class is found by setting the
    true logit to -inf. Adam on w. Per example: a binary search over c (×10 until the
    first success, then bisection) and an early abort when the loss stops falling (checked
    every max_iterations/10 steps). Through a front end the paper uses BPDA (App. B.3):
    build the classifier's front end with ``gradient="bpda"`` for that.

    Returns (x_adv, info): each example's smallest-ℓ2 successful adversarial (x itself
    where none was found), and per-example arrays ``success``, ``l2``, ``linf``, ``const``.
    """
    x, y = check_inputs(clf, x, y)
    if binary_steps < 1 or max_iterations < 1 or lr <= 0 or initial_const <= 0:
        raise ValueError("binary_steps and max_iterations must be >= 1, lr and initial_const > 0")
    out = x.copy()
    info = {"success": np.zeros(len(x), bool), "l2": np.zeros(len(x)), "linf": np.zeros(len(x)),
            "const": np.full(len(x), np.nan)}
    start = time.perf_counter()
    for b in batches(len(x), batch_size):
        xa, found, l2, c = _cw_batch(clf, x[b], y[b], confidence, lr, initial_const, binary_steps,
                                     max_iterations, abort_early, log, start)
        out[b] = np.where(found[:, None, None], xa, x[b])
        d = (out[b] - x[b]).reshape(len(xa), -1).astype(np.float64)
        info["success"][b], info["const"][b] = found, c
        info["l2"][b] = np.sqrt((d ** 2).sum(axis=1))
        info["linf"][b] = np.abs(d).max(axis=1)
    return out, info


def _cw_batch(clf, x, y, kappa, lr, initial_const, binary_steps, max_iterations, abort_early, log, t0):
    n = len(x)
    x64 = x.astype(np.float64)
    w0 = np.arctanh((2 * x64 - 1) * (1 - 1e-6))
    const = np.full(n, initial_const)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    best_l2, best_adv = np.full(n, np.inf), x.copy()
    for step in range(binary_steps):
        w = w0.copy()
        m, v = np.zeros_like(w), np.zeros_like(w)
        succeeded = np.zeros(n, bool)
        active = np.ones(n, bool)
        prev = np.full(n, np.inf)
        check_every = max(1, max_iterations // 10)
        for it in range(1, max_iterations + 1):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            xa = ((np.tanh(w[idx]) + 1) / 2)
            logits = clf.forward(xa.astype(x.dtype)).astype(np.float64)
            z = two_class(logits) if logits.shape[1] == 1 else logits
            rows = np.arange(len(idx))
            true = z[rows, y[idx]]
            other = z.copy()
            other[rows, y[idx]] = -np.inf
            best_other = other.max(axis=1)
            f = np.maximum(true - best_other, -kappa)
            diff = xa - x64[idx]
            l2sq = (diff ** 2).reshape(len(idx), -1).sum(axis=1)
            loss = l2sq + const[idx] * f
            # Record successes (the attack's criterion: the true class no longer wins by κ).
            ok = (best_other - true) > kappa if kappa > 0 else predictions(logits) != y[idx]
            better = ok & (l2sq < best_l2[idx])
            best_l2[idx[better]] = l2sq[better]
            best_adv[idx[better]] = xa[better].astype(x.dtype)
            succeeded[idx[ok]] = True
            # d loss / d logits: c * (e_t - e_best) where the hinge is active.
            seed = np.zeros_like(z)
            hinge = (true - best_other) > -kappa
            seed[rows, y[idx]] = const[idx] * hinge
            seed[rows, other.argmax(axis=1)] -= const[idx] * hinge
            if logits.shape[1] == 1:
                seed = seed[:, 1:]       # the network's one logit is the second of (0, y)
            g_x = clf.backward(seed.astype(x.dtype)).astype(np.float64) + 2 * diff
            g_w = g_x * (1 - np.tanh(w[idx]) ** 2) / 2
            # Adam (lr, 0.9, 0.999), per example: bias correction uses the shared step count.
            m[idx] = 0.9 * m[idx] + 0.1 * g_w
            v[idx] = 0.999 * v[idx] + 0.001 * g_w ** 2
            mhat, vhat = m[idx] / (1 - 0.9 ** it), v[idx] / (1 - 0.999 ** it)
            w[idx] -= lr * mhat / (np.sqrt(vhat) + 1e-8)
            if abort_early and it % check_every == 0:
                stalled = loss > 0.9999 * prev[idx]
                active[idx[stalled]] = False
                prev[idx] = loss
        # Binary search on c, per example.
        upper = np.where(succeeded, np.minimum(upper, const), upper)
        lower = np.where(~succeeded, np.maximum(lower, const), lower)
        const = np.where(np.isfinite(upper), (lower + upper) / 2, const * 10)
        if log:
            log(f"  C&W binary step {step + 1}/{binary_steps}: {100 * np.isfinite(best_l2).mean():.1f}% "
                f"adversarial so far ({time.perf_counter() - t0:.0f}s)")
    found = np.isfinite(best_l2)
    return best_adv, found, np.sqrt(best_l2), np.where(found, upper, np.nan)
