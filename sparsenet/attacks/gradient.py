"""Gradient-sign attacks: FGSM, iterative FGSM, PGD and MI-FGSM (Section 5's list).

All iterate x_{k+1} = Π(x_k + δ sgn(d_k)) with Π the projection on the ε-ball and
[0, 1]; they differ in the start (x or a random point) and the direction d_k (the loss
gradient, or MI-FGSM's momentum). Each returns its adversarial images; ``iterates`` runs
one of the iterative ones and returns both the final iterates and, per example, the first
misclassified iterate ("any iterate", which a robustness evaluation counts as a success).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import predictions
from ..progress import Progress, stderr
from .common import (attack_score, batches, check_inputs, check_settings, loss_gradient, project, random_start,
                     selected)


def fgsm(clf, x, y, eps, batch_size=500, only=None, log=stderr):
    """FGSM (Goodfellow et al. 2015): x + ε sgn(∇_x J(x, y)), clipped to [0, 1].
    ``only``: attack just these examples (``common.selected``); the others are returned
    unchanged. ``log``: progress lines (None: silent)."""
    x, y = check_inputs(clf, x, y, eps)
    batch_size = check_settings(batch_size=batch_size)["batch_size"]
    idx = selected(only, len(x))
    out = x.copy()
    report = Progress("FGSM", len(idx), log, "images")
    for b in batches(len(idx), batch_size):
        i = idx[b]
        _, g = loss_gradient(clf, x[i], y[i])
        out[i] = project(x[i] + eps * np.sign(g), x[i], eps)
        report.update(b.stop)
    report.finish()
    return out


@dataclass
class Iterates:
    """What one run of an iterative attack visited, per example: ``final``, its last
    iterate (what the attack returns), and ``first``, its first misclassified iterate
    (the last one where none was)."""
    final: np.ndarray
    first: np.ndarray


def _plain_gradient(n):
    return lambda idx, g: g


def _iterate(clf, x, y, eps, delta, iterations, start, make_direction, stop_on_success, batch_size, report,
             done=0):
    """The loop shared by I-FGSM, PGD and MI-FGSM: x_{k+1} = Π(x_k + δ sgn(d_k)).

    ``start(b)`` gives the first iterate of batch slice b; ``make_direction(n)`` makes,
    per batch, a function (idx, grad) -> d_k that may keep per-example state (momentum).
    With ``stop_on_success`` an example misclassified at some iterate is frozen there.
    Returns ``Iterates``: the first misclassified iterates come from the logits each
    step's gradient pass computes anyway. ``report`` (a ``Progress``) hears of the images
    done, counting from ``done``.
    """
    out, first = np.empty_like(x), np.empty_like(x)
    for b in batches(len(x), batch_size):
        xb, yb = x[b], y[b]
        xa = start(b)
        active = np.ones(len(xb), bool)
        found = np.zeros(len(xb), bool)      # first misclassified iterate recorded
        fb = xa.copy()
        direction = make_direction(len(xb))
        for k in range(iterations):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            logits, g = loss_gradient(clf, xa[idx], yb[idx])
            hit = predictions(logits) != yb[idx]
            new = idx[hit & ~found[idx]]
            fb[new], found[new] = xa[new], True
            if stop_on_success:
                active[idx[hit]] = False
                idx, g = idx[~hit], g[~hit]
                if not len(idx):
                    break
            d = direction(idx, g)
            xa[idx] = project(xa[idx] + delta * np.sign(d), xb[idx], eps)
            report.update(done + b.start + len(xb) * (k + 1) / iterations)
        out[b] = xa
        rest = ~found                      # not fooled before: the final iterate stands
        fb[rest] = xa[rest]
        first[b] = fb
    return Iterates(out, first)


def iterative_fgsm(clf, x, y, eps, delta, iterations, stop_on_success=False, batch_size=500, only=None,
                   log=stderr):
    """Iterative FGSM (Kurakin et al. 2017): from x, steps δ sgn ∇J, each projected into
    the ε-ball and [0, 1]. ``stop_on_success`` freezes an example at the first
    misclassified iterate (keeps the adversarial found: never weaker than the final
    iterate). ``only``, ``log``: as in ``fgsm``."""
    return _ifgsm(clf, x, y, eps, delta, iterations, stop_on_success, batch_size, only, log).final


def _ifgsm(clf, x, y, eps, delta, iterations, stop_on_success=False, batch_size=500, only=None, log=stderr):
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(delta=delta, iterations=iterations, stop_on_success=stop_on_success, batch_size=batch_size)
    idx = selected(only, len(x))
    xs, ys = x[idx], y[idx]
    report = Progress("iterative FGSM", len(idx), log, "images")
    run = _iterate(clf, xs, ys, eps, s["delta"], s["iterations"], lambda b: xs[b].copy(), _plain_gradient,
                   s["stop_on_success"], s["batch_size"], report)
    report.finish()
    return _scatter(x, idx, run)


def pgd(clf, x, y, eps, delta, iterations, restarts=1, rng=None, stop_on_success=False, batch_size=500,
        only=None, log=stderr):
    """PGD (Madry et al. 2018): a uniform random start in the ε-ball (clipped to [0, 1]),
    then I-FGSM steps. With ``restarts`` > 1 each example keeps its worst case
    (misclassified, else the highest loss). ``rng``: seed or Generator; the starts are
    drawn for every example, so ``only`` (attack just these, see ``common.selected``)
    changes nothing for the examples attacked."""
    return _pgd(clf, x, y, eps, delta, iterations, restarts, rng, stop_on_success, batch_size, only, log).final


def _pgd(clf, x, y, eps, delta, iterations, restarts=1, rng=None, stop_on_success=False, batch_size=500,
         only=None, log=stderr):
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(delta=delta, iterations=iterations, restarts=restarts, rng=rng,
                       stop_on_success=stop_on_success, batch_size=batch_size)
    rng = np.random.default_rng(s["rng"])
    idx = selected(only, len(x))
    xs, ys = x[idx], y[idx]
    keep = {"final": (x.copy(), np.full(len(x), -np.inf)), "first": (x.copy(), np.full(len(x), -np.inf))}
    report = Progress("PGD", s["restarts"] * len(idx), log, "images")
    for r in range(s["restarts"]):
        x0 = random_start(x, eps, rng)[idx]
        run = _iterate(clf, xs, ys, eps, s["delta"], s["iterations"], lambda b: x0[b].copy(), _plain_gradient,
                       s["stop_on_success"], s["batch_size"], report, done=r * len(idx))
        # Each restart's final (and first) iterates compete with the earlier restarts' ones.
        for name, points in (("final", run.final), ("first", run.first)):
            best, best_score = keep[name]
            score = attack_score(clf, points, ys, s["batch_size"]) if s["restarts"] > 1 else np.zeros(len(idx))
            better = score > best_score[idx]
            best[idx[better]], best_score[idx[better]] = points[better], score[better]
    report.finish()
    return Iterates(keep["final"][0], keep["first"][0])


def mi_fgsm(clf, x, y, eps, delta, iterations, mu=1.0, stop_on_success=False, batch_size=500, only=None,
            log=stderr):
    """MI-FGSM (Dong et al. 2018): g_{k+1} = μ g_k + ∇J / ||∇J||_1 (per example), step
    δ sgn(g_{k+1}). ``stop_on_success``, ``only``, ``log``: as in ``iterative_fgsm``."""
    return _mifgsm(clf, x, y, eps, delta, iterations, mu, stop_on_success, batch_size, only, log).final


def _mifgsm(clf, x, y, eps, delta, iterations, mu=1.0, stop_on_success=False, batch_size=500, only=None,
            log=stderr):
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(delta=delta, iterations=iterations, mu=mu, stop_on_success=stop_on_success,
                       batch_size=batch_size)
    idx = selected(only, len(x))
    xs, ys = x[idx], y[idx]

    def momentum(n):
        g_acc = np.zeros((n,) + x.shape[1:], dtype=np.float64)

        def direction(i, g):
            g_acc[i] = momentum_step(g_acc[i], g, s["mu"])
            return g_acc[i]
        return direction

    report = Progress("MI-FGSM", len(idx), log, "images")
    run = _iterate(clf, xs, ys, eps, s["delta"], s["iterations"], lambda b: xs[b].copy(), momentum,
                   s["stop_on_success"], s["batch_size"], report)
    report.finish()
    return _scatter(x, idx, run)


def momentum_step(accumulated, grad, mu):
    """MI-FGSM's update, per example: μ g_k + ∇J / ||∇J||_1 (the l1 norm over each example's
    pixels; an all-zero gradient adds nothing)."""
    l1 = np.abs(grad).reshape(len(grad), -1).sum(axis=1).astype(np.float64)
    return mu * accumulated + grad / np.maximum(l1, 1e-12).reshape((-1,) + (1,) * (grad.ndim - 1))


def _scatter(x, idx, run):
    """``Iterates`` over all of x from those of the examples ``idx`` (the others unchanged)."""
    final, first = x.copy(), x.copy()
    final[idx], first[idx] = run.final, run.first
    return Iterates(final, first)


_RUNS = {iterative_fgsm: _ifgsm, pgd: _pgd, mi_fgsm: _mifgsm}


def iterates(attack, clf, x, y, eps, delta, iterations, **settings):
    """One run of ``attack`` (``iterative_fgsm``, ``pgd`` or ``mi_fgsm``, with its
    ``settings``) as ``Iterates``: the final iterates, which ``attack`` itself returns,
    and the first misclassified iterates of the same run (what ``stop_on_success=True``
    would return), at no extra cost."""
    if attack not in _RUNS:
        raise ValueError(f"iterates runs iterative_fgsm, pgd or mi_fgsm, got {attack!r}")
    return _RUNS[attack](clf, x, y, eps, delta, iterations, **settings)
