"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks"), ℓ∞, with its three losses.

APGD is PGD without a step size to tune: it starts at 2ε, takes momentum steps, and at
checkpoints halves the step and restarts from the best point found when progress has
stalled. The constants are the published ones and are the defaults here.

    x^(1) = Π(x^(0) + η sgn ∇f(x^(0)))                    (η = 2ε, a random start x^(0))
    z^(k+1) = Π(x^(k) + η^(k) sgn ∇f(x^(k)))
    x^(k+1) = Π(x^(k) + α (z^(k+1) - x^(k)) + (1 - α)(x^(k) - x^(k-1)))      α = 0.75

At checkpoint w_j the step is halved, and the iterate reset to the best point, when
  1. f increased in at most ρ = 0.75 of the steps since w_{j-1}, or
  2. the step was not halved at w_{j-1} and the best loss has not improved since.
Checkpoints: w_j = ⌈p_j N⌉, p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06).

Losses (maximised), on logits z with π sorting them in decreasing order:
  ce            the cross-entropy of the true class y;
  dlr           -(z_y - max_{i != y} z_i) / (z_π1 - z_π3);
  dlr-targeted  -(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2), for a target class t;
  margin        max_{i != y} z_i - z_y (the C&W loss: for one-logit binary networks,
                which have no third logit for the DLR scale).
Each example keeps the first misclassified point it reaches ("any iterate"), else the
point of highest loss; restarts run on the examples still classified correctly.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..losses import cross_entropy
from ..models import predictions
from ..progress import Progress, stderr
from .common import batches, check_inputs, check_settings, margin, project, selected, two_class

LOSSES = ("ce", "dlr", "dlr-targeted", "margin")
DLR_EPS = 1e-12        # keeps the DLR scale away from 0, as published


def checkpoints(iterations, p1=0.22, decay=0.03, min_gap=0.06):
    """The checkpoint iterations w_j = ⌈p_j N⌉ ≤ N, w_0 = 0 first (duplicates, possible for
    a few iterations, dropped)."""
    p = [0.0, p1]
    while p[-1] <= 1:
        p.append(p[-1] + max(p[-1] - p[-2] - decay, min_gap))
    # round before the ceiling: 0.41 * 100 is 41.000000000000007 in binary
    w = [math.ceil(round(q * iterations, 9)) for q in p if q <= 1]
    return sorted(set(w))


def halve_step(n_increases, window, best, best_at_last, reduced_last, rho=0.75):
    """Which examples halve their step at a checkpoint (the two conditions above).

    n_increases : (B,) steps since the last checkpoint that increased the loss
    window : w_j - w_{j-1};  best, best_at_last : best loss now and at w_{j-1}
    reduced_last : (B,) bool, step halved at w_{j-1}
    """
    oscillating = n_increases <= rho * window
    stalled = ~reduced_last & (best_at_last >= best)
    return oscillating | stalled


# -- losses and their gradients with respect to the logits ------------------------------
def dlr_loss(logits, y, target=None):
    """DLR loss (untargeted, or targeted at ``target``) per example and its gradient
    d loss / d logits, in float64. Needs 3 logits (4 when targeted)."""
    z = np.asarray(logits, np.float64)
    B, L = z.shape
    need = 3 if target is None else 4
    if L < need:
        raise ValueError(f"the {'targeted ' if target is not None else ''}DLR loss needs at least {need} "
                         f"logits, got {L}; use loss='ce' or 'margin'")
    rows = np.arange(B)
    order = np.argsort(-z, axis=1, kind="stable")                # π: decreasing logits
    grad = np.zeros_like(z)
    if target is None:
        other = z.copy()
        other[rows, y] = -np.inf
        t = other.argmax(axis=1)                                   # the best other class
        scale = z[rows, order[:, 0]] - z[rows, order[:, 2]] + DLR_EPS
        np.add.at(grad, (rows, order[:, 0]), 1.0)
        np.add.at(grad, (rows, order[:, 2]), -1.0)
    else:
        t = np.asarray(target)
        scale = z[rows, order[:, 0]] - 0.5 * (z[rows, order[:, 2]] + z[rows, order[:, 3]]) + DLR_EPS
        np.add.at(grad, (rows, order[:, 0]), 1.0)
        np.add.at(grad, (rows, order[:, 2]), -0.5)
        np.add.at(grad, (rows, order[:, 3]), -0.5)
    gap = z[rows, y] - z[rows, t]
    loss = -gap / scale
    # d(-gap/scale) = -(e_y - e_t)/scale + gap/scale^2 * d scale
    grad *= (gap / scale ** 2)[:, None]
    grad[rows, y] -= 1 / scale
    grad[rows, t] += 1 / scale
    return loss, grad


def attack_loss(name, logits, y, target=None):
    """(per-example loss to maximise, its gradient w.r.t. the logits)."""
    if name == "ce":
        losses = _per_example_ce(logits, y)
        _, grad = cross_entropy(logits, y, reduction="sum")
        return losses, grad.astype(np.float64)
    if name in ("dlr", "dlr-targeted"):
        return dlr_loss(logits, y, target if name == "dlr-targeted" else None)
    if name == "margin":
        z = two_class(logits) if logits.shape[1] == 1 else np.asarray(logits, np.float64)
        rows = np.arange(len(y))
        other = z.astype(np.float64).copy()
        other[rows, y] = -np.inf
        best = other.argmax(axis=1)
        grad = np.zeros(z.shape)
        grad[rows, best], grad[rows, y] = 1.0, -1.0
        if logits.shape[1] == 1:
            grad = grad[:, 1:]           # the network's one logit is the second of (0, y)
        return margin(logits, y), grad
    raise ValueError(f"unknown APGD loss {name!r}; choose from {LOSSES}")


def _per_example_ce(logits, y):
    z = np.asarray(logits, np.float64)
    if z.shape[1] == 1:   # sigmoid cross-entropy of the one-logit network
        s = np.where(y == 1, -z[:, 0], z[:, 0])
        return np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))
    z = z - z.max(axis=1, keepdims=True)
    return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]


# -- the attack ----------------------------------------------------------------------------
def apgd(clf, x, y, eps, iterations=100, loss="ce", restarts=1, rho=0.75, rng=None, batch_size=500,
         targets=None, only=None, log=stderr):
    """APGD (ℓ∞) with ``loss`` in ("ce", "dlr", "dlr-targeted", "margin"); see the module.

    ``targets`` (n,) target classes for "dlr-targeted". ``restarts``: further runs, each
    from a new random start, on the examples not yet misclassified. ``rng``: seed or
    Generator; every random start is drawn for the whole set at once, so nothing depends
    on the batch size or on ``only`` (attack just these examples, see
    ``common.selected``). Returns the adversarial images; examples misclassified when
    clean, or not selected, are returned unchanged. ``log``: progress lines (None: silent).
    """
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(iterations=iterations, restarts=restarts, rho=rho, rng=rng, batch_size=batch_size)
    iterations, restarts, rho, batch_size = s["iterations"], s["restarts"], s["rho"], s["batch_size"]
    if loss not in LOSSES:
        raise ValueError(f"unknown APGD loss {loss!r}; choose from {LOSSES}")
    if (targets is None) != (loss != "dlr-targeted"):
        raise ValueError("targets are needed by, and only by, loss='dlr-targeted'")
    chosen = selected(only, len(x))
    if targets is not None:
        targets = np.asarray(targets)
        if (targets.shape != y.shape or not np.issubdtype(targets.dtype, np.integer)
                or (targets[chosen] == y[chosen]).any() or targets.min() < 0 or targets.max() >= clf.n_logits):
            raise ValueError("targets must hold one class per example, each different from its label")
    rng = np.random.default_rng(s["rng"])
    out = x.copy()
    robust = np.zeros(len(x), bool)
    robust[chosen] = clf.predict(x[chosen], batch_size) == y[chosen]
    best_loss = np.full(len(x), -np.inf)
    report = Progress(f"APGD-{loss.upper()}", restarts * len(chosen), log, "images")
    for r in range(restarts):
        t = rng.uniform(-1, 1, size=x.shape)           # for every example: batch-size independent
        idx = np.flatnonzero(robust)
        for b in batches(len(idx), batch_size):
            i = idx[b]
            scale = np.abs(t[i]).reshape(len(i), -1).max(axis=1).reshape(len(i), 1, 1)
            start = x[i] + eps * (t[i] / scale).astype(x.dtype)           # on the ε-sphere
            x_adv, fooled, f_best = apgd_batch(clf, x[i], y[i], eps, iterations=iterations, start=start,
                                               loss=loss, rho=rho,
                                               targets=None if targets is None else targets[i])
            keep = fooled | (f_best > best_loss[i])    # a misclassified point, else the highest loss yet
            out[i[keep]] = x_adv[keep]
            best_loss[i[keep]] = f_best[keep]
            robust[i[fooled]] = False
            report.update(r * len(chosen) + b.stop, f"{int(robust[chosen].sum()):,} still robust")
    report.finish()
    return out


def first_dense_weights(net):
    """W (D, H) of the network's first layer with weights, which must be ``Dense`` (after any
    ``Flatten``): the first hidden layer's pre-activations are x W + b."""
    from ..layers import Dense
    for layer in net.layers:
        if getattr(layer, "params", None):
            if not isinstance(layer, Dense):
                raise ValueError(f"apgd_units needs a network whose first layer with weights is Dense (fc2, "
                                 f"fc10); this one starts with {type(layer).__name__}")
            return layer.params["W"]
    raise ValueError("apgd_units needs a network with a Dense layer; this one has no weights")


def unit_starts(x, W, eps):
    """The 2H corners of the ε-ball around each image that push one first-layer unit j's
    pre-activation x W_j + b_j up (x + ε sgn W_j) or down (x - ε sgn W_j) as far as the ball
    allows, clipped to [0, 1]: (2H, n, *x.shape[1:]) as a generator, unit by unit."""
    for j in range(W.shape[1]):
        direction = np.sign(W[:, j]).reshape(x.shape[1:]).astype(x.dtype)
        for sign in (1, -1):
            yield np.clip(x + sign * eps * direction, 0, 1)


def apgd_units(clf, x, y, eps, iterations=100, loss="margin", rho=0.75, batch_size=500, only=None, log=stderr):
    """APGD from the corners that switch each first-layer unit on or off (``unit_starts``).

    Why: a ReLU that is off at every point a gradient attack visits has zero slope there, so
    the attack cannot see that switching it on would cross the decision boundary (w_eq(x) of
    Section 3.2 holds only the active paths). On an undefended fc2, exact verification finds
    such examples: broken in the ε-ball, but every APGD and Square run stops in a local
    minimum with the helpful unit off. Starting from the corner that drives unit j's
    pre-activation as far up (or down) as ε allows switches it first; APGD then descends.

    For networks whose first layer with weights is ``Dense`` (fc2, fc10): 2H runs of APGD
    (H hidden units), each on the examples still robust; deterministic (no random start).
    Returns the adversarial images (each example's first misclassified point, else its
    highest-loss point over the runs); ``only``, ``log`` as ``apgd``.
    """
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(iterations=iterations, rho=rho, batch_size=batch_size)
    if loss not in LOSSES or loss == "dlr-targeted":
        raise ValueError(f"unknown apgd_units loss {loss!r}; choose from ('ce', 'dlr', 'margin')")
    W = first_dense_weights(clf.net)
    chosen = selected(only, len(x))
    out = x.copy()
    robust = np.zeros(len(x), bool)
    robust[chosen] = clf.predict(x[chosen], s["batch_size"]) == y[chosen]
    best_loss = np.full(len(x), -np.inf)
    runs = 2 * W.shape[1]
    report = Progress("APGD from unit starts", runs, log, "starts")
    for r, start in enumerate(unit_starts(x, W, eps)):
        idx = np.flatnonzero(robust)
        for b in batches(len(idx), s["batch_size"]):
            i = idx[b]
            x_adv, fooled, f_best = apgd_batch(clf, x[i], y[i], eps, iterations=s["iterations"], start=start[i],
                                               loss=loss, rho=s["rho"])
            keep = fooled | (f_best > best_loss[i])
            out[i[keep]] = x_adv[keep]
            best_loss[i[keep]] = f_best[keep]
            robust[i[fooled]] = False
        report.update(r + 1, f"{int(robust[chosen].sum()):,} still robust")
    report.finish()
    return out


class APGDRun(NamedTuple):
    """What ``apgd_batch`` returns, per example of the batch.

    points : ndarray (B, H, W), x's dtype
        The first misclassified point where the example was fooled, else its highest-loss point.
    fooled : ndarray (B,), bool
        Whether some iterate was misclassified.
    best_loss : ndarray (B,), float64
        The highest loss f reached over the run.
    """
    points: np.ndarray
    fooled: np.ndarray
    best_loss: np.ndarray


def apgd_batch(clf, x, y, eps, *, iterations=100, start, loss="ce", rho=0.75, targets=None, watch=None):
    """One APGD run on one batch, from a given start: the iteration of the module docstring.

    ``apgd`` calls it on each batch of the examples still robust, with a random start on the
    ε-sphere; called directly, it shows how one run unfolds (``watch``).

    Parameters
    ----------
    clf : a classifier (``forward``, ``backward``, ``n_logits``), e.g. ``models.Classifier``
    x : ndarray (B, H, W) in [0, 1], the clean images; y : ndarray (B,), their labels
    eps : the ℓ∞ budget ε
    iterations : N, the number of steps (the checkpoints w_j follow from it)
    start : ndarray (B, H, W), the first iterate x^(0) before it is projected onto the ε-ball
        around x and [0, 1] (``apgd`` passes x + ε t / ‖t‖∞, t uniform in [-1, 1]; x itself is
        a start too)
    loss : "ce", "dlr", "dlr-targeted" or "margin" (see the module docstring)
    rho : ρ, the share of increasing steps below which a checkpoint halves the step
    targets : ndarray (B,), the target classes t, for and only for ``loss="dlr-targeted"``
    watch : callable, optional
        Called after every iteration k = 1, 2, ... (until every example is fooled) as
        ``watch(iterate, best, step)``, with copies of the iterate x^(k) (B, H, W) -- at a
        checkpoint that halved an example's step, the best point it restarts from --, the
        highest-loss point so far (B, H, W), and the step sizes η^(k) (B,): a way to watch
        APGD's step-size schedule, for example to plot it.

    Returns
    -------
    APGDRun (points, fooled, best_loss): per example the first misclassified point where it
    was fooled, else its highest-loss point; whether it was fooled; the highest loss reached.
    """
    x, y = check_inputs(clf, x, y, eps)
    settings = check_settings(iterations=iterations, rho=rho)
    iterations, rho = settings["iterations"], settings["rho"]
    if loss not in LOSSES:
        raise ValueError(f"unknown APGD loss {loss!r}; choose from {LOSSES}")
    if (targets is None) != (loss != "dlr-targeted"):
        raise ValueError("targets are needed by, and only by, loss='dlr-targeted'")
    if np.shape(start) != x.shape:
        raise ValueError(f"start must have the shape of x, {x.shape}, got {np.shape(start)}")
    target = None if targets is None else np.asarray(targets)
    B = len(x)
    x_adv = project(start, x, eps)                      # into the ε-ball, then into [0, 1]

    def loss_and_grad(rows, points):
        logits = clf.forward(points)
        f, seed = attack_loss(loss, logits, y[rows], None if target is None else target[rows])
        return logits, f, clf.backward(seed.astype(clf.net.dtype)).astype(np.float64)

    logits, f, g = loss_and_grad(np.arange(B), x_adv)
    fooled = predictions(logits) != y
    found = x_adv.copy()                                 # the first misclassified point
    x_best, f_best, g_best = x_adv.copy(), f.copy(), g.copy()
    f_prev = f.copy()
    step = np.full(B, 2.0 * eps)
    x_prev = x_adv.copy()
    n_increases = np.zeros(B, int)
    best_at_last, reduced_last = f_best.copy(), np.ones(B, bool)
    marks = checkpoints(iterations)
    for k in range(iterations):
        act = np.flatnonzero(~fooled)                    # a fooled example is done
        if not len(act):
            break
        xa, xp, s = x_adv[act], x_prev[act], step[act][:, None, None]
        alpha = 1.0 if k == 0 else 0.75
        z = project(xa + s * np.sign(g[act]), x[act], eps)
        new = project(xa + alpha * (z - xa) + (1 - alpha) * (xa - xp), x[act], eps)
        x_prev[act], x_adv[act] = xa, new
        logits, f_new, g_new = loss_and_grad(act, new)
        g[act] = g_new
        hit = predictions(logits) != y[act]
        found[act[hit]], fooled[act[hit]] = new[hit], True
        n_increases[act] += f_new > f_prev[act]
        f_prev[act] = f_new
        better = f_new > f_best[act]
        up = act[better]
        x_best[up], f_best[up], g_best[up] = new[better], f_new[better], g_new[better]
        if k + 1 in marks[1:]:
            j = marks.index(k + 1)
            halve = halve_step(n_increases, marks[j] - marks[j - 1], f_best, best_at_last, reduced_last, rho)
            halve &= ~fooled
            step[halve] /= 2
            x_adv[halve], g[halve] = x_best[halve], g_best[halve]
            reduced_last, best_at_last = halve, f_best.copy()
            n_increases[:] = 0
        if watch is not None:
            watch(x_adv.copy(), x_best.copy(), step.copy())
    return APGDRun(np.where(fooled[:, None, None], found, x_best), fooled, f_best)


def apgd_targeted(clf, x, y, eps, iterations=100, n_targets=9, rng=None, batch_size=500, only=None, log=stderr):
    """APGD-T: APGD on the targeted DLR loss, once per target class, the targets being
    the ``n_targets`` highest-scoring wrong classes at the clean input (AutoAttack's
    order: the runner-up first). Each target runs only on the examples still classified
    correctly. ``rng``, ``only``, ``log``: as in ``apgd``."""
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(iterations=iterations, n_targets=n_targets, rng=rng, batch_size=batch_size)
    iterations, n_targets, batch_size = s["iterations"], s["n_targets"], s["batch_size"]
    if clf.n_logits < 4:
        raise ValueError(f"APGD-T needs at least 4 classes, the network has {clf.n_logits} logits")
    if n_targets > clf.n_logits - 1:
        raise ValueError(f"n_targets must be an integer in [1, {clf.n_logits - 1}], got {n_targets!r}")
    rng = np.random.default_rng(s["rng"])
    chosen = selected(only, len(x))
    ranked = np.zeros((len(x), clf.n_logits), int)
    robust = np.zeros(len(x), bool)
    clean_logits = clf.logits(x[chosen], batch_size)
    ranked[chosen] = np.argsort(-clean_logits, axis=1, kind="stable")
    robust[chosen] = predictions(clean_logits) == y[chosen]
    out = x.copy()
    report = Progress("APGD-T", n_targets, log, "targets")
    for k in range(1, n_targets + 1):
        if not robust.any():
            break
        # The k-th best class: for a correctly classified example the true class is first.
        targets = np.where(ranked[:, k] == y, ranked[:, 0], ranked[:, k])   # (only the robust ones matter)
        x_adv = apgd(clf, x, y, eps, iterations, "dlr-targeted", rng=rng, batch_size=batch_size,
                     targets=targets, only=robust, log=None)
        idx = np.flatnonzero(robust)
        broken = idx[clf.predict(x_adv[idx], batch_size) != y[idx]]
        out[broken] = x_adv[broken]
        robust[broken] = False
        report.update(k, f"{int(robust[chosen].sum()):,} of {len(chosen):,} still robust")
    report.finish()
    return out
