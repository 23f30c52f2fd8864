"""Carlini & Wagner's l2 attack (2017), untargeted, on logits (Appendix B.3, Figure 7)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import predictions
from ..progress import Progress, stderr
from .common import batches, check_inputs, check_settings, selected, two_class


def carlini_wagner_l2(clf, x, y, confidence=0.0, lr=1e-2, initial_const=1e-3, binary_steps=9,
                      max_iterations=1000, abort_early=True, batch_size=500, only=None, log=stderr):
    """Carlini & Wagner's ℓ2 attack (2017), untargeted, on logits.

    x_adv = (tanh(w) + 1) / 2; minimise ||x_adv - x||_2^2 + c f(x_adv) with
    f = max(Z_t - max_{i != t} Z_i, -κ); the best other class is found by setting the
    true logit to -inf. Adam on w. Per example: a binary search over c (×10 until the
    first success, then bisection) and an early abort when the loss stops falling (checked
    every max_iterations/10 steps). Through a front end the paper uses BPDA (App. B.3):
    build the classifier's front end with ``gradient="bpda"`` for that.

    Returns each example's smallest-ℓ2 successful adversarial (x itself where none was
    found, and for examples not selected by ``only``). ``carlini_wagner_l2_details`` runs
    the same search and also returns, per example, whether it succeeded, the distances and
    the constant c.
    """
    return carlini_wagner_l2_details(clf, x, y, confidence, lr, initial_const, binary_steps, max_iterations,
                                     abort_early, batch_size, only, log).x_adv


@dataclass
class CWDetails:
    """What ``carlini_wagner_l2_details`` found, per example: ``x_adv`` (as
    ``carlini_wagner_l2`` returns it), ``success``, the ``l2`` and ``linf`` distances of
    x_adv from x (0 where no adversarial was found) and ``const``, the smallest c that
    succeeded (NaN where none did)."""
    x_adv: np.ndarray
    success: np.ndarray
    l2: np.ndarray
    linf: np.ndarray
    const: np.ndarray


def carlini_wagner_l2_details(clf, x, y, confidence=0.0, lr=1e-2, initial_const=1e-3, binary_steps=9,
                              max_iterations=1000, abort_early=True, batch_size=500, only=None, log=stderr):
    """``carlini_wagner_l2`` with what it found per example: a ``CWDetails``."""
    x, y = check_inputs(clf, x, y)
    s = check_settings(confidence=confidence, lr=lr, initial_const=initial_const, binary_steps=binary_steps,
                       max_iterations=max_iterations, abort_early=abort_early, batch_size=batch_size)
    idx = selected(only, len(x))
    out = CWDetails(x.copy(), np.zeros(len(x), bool), np.zeros(len(x)), np.zeros(len(x)),
                    np.full(len(x), np.nan))
    report = Progress("Carlini-Wagner l2", len(idx) * s["binary_steps"], log, "image-steps")
    for b in batches(len(idx), s["batch_size"]):
        i = idx[b]
        xa, found, _, c = _cw_batch(clf, x[i], y[i], s["confidence"], s["lr"], s["initial_const"],
                                    s["binary_steps"], s["max_iterations"], s["abort_early"],
                                    lambda step: report.update((b.start + len(i) * step / s["binary_steps"])
                                                               * s["binary_steps"]))
        out.x_adv[i] = np.where(found[:, None, None], xa, x[i])
        d = (out.x_adv[i] - x[i]).reshape(len(i), -1).astype(np.float64)
        out.success[i], out.const[i] = found, c
        out.l2[i] = np.sqrt((d ** 2).sum(axis=1))
        out.linf[i] = np.abs(d).max(axis=1)
    report.finish()
    return out


def _cw_batch(clf, x, y, kappa, lr, initial_const, binary_steps, max_iterations, abort_early, step_done):
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
        step_done(step + 1)
    found = np.isfinite(best_l2)
    return best_adv, found, np.sqrt(best_l2), np.where(found, upper, np.nan)
