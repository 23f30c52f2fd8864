"""What every attack shares: argument checks, the ε-ball projection, losses and their
gradients with respect to the logits, margins, batching, and the central evaluation.

Conventions. An attack takes a ``models.Classifier`` ``clf`` (a network, optionally
behind a front end), images x in [0, 1] of shape (n, 28, 28), integer labels y, and a
budget eps; it returns adversarial images of x's shape and dtype and never modifies x.
Gradients cross the front end as the front end says (``Sparsifier(gradient=...)``:
the exact VJP, the straight-through clip, or BPDA); ``with_gradient`` swaps that choice.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..losses import cross_entropy
from ..models import predictions


# -- arguments -------------------------------------------------------------------------
def check_inputs(clf, x, y, eps=0.0):
    """Validate an attack's images, labels and budget; returns (x, y) as arrays."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or x.shape[1:] != clf.net.input_shape:
        raise ValueError(f"x must have shape (n, {', '.join(map(str, clf.net.input_shape))}), got {x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},) to match x, got {y.shape}")
    if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
        raise ValueError("x must be finite floating-point images")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
    n_classes = max(clf.n_logits, 2)
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"labels must be integers in [0, {n_classes - 1}]")
    check_eps(eps)
    return x, y


def check_eps(eps):
    if eps is None:
        raise ValueError("eps (the l-infinity budget, images in [0, 1]) is required, got None")
    if not _is_real(eps) or not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _count(name, v):
    if not _is_real(v) or not np.isfinite(v) or int(v) != v or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def _positive(name, v):
    if not _is_real(v) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def _non_negative(name, v):
    if not _is_real(v) or not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return float(v)


def _share(name, v):
    if not _is_real(v) or not 0 < v <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {v!r}")
    return float(v)


def _flag(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def _seed(name, v):
    if v is None or isinstance(v, (np.random.Generator, np.random.SeedSequence)):
        return v
    if isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0:
        return int(v)
    raise ValueError(f"{name} must be None, an integer >= 0 or a numpy Generator, got {v!r}")


# Every setting an attack of this package takes, by its name, and how it is checked (and
# normalised: 2.0 iterations are 2). The attacks check their settings with ``check_settings``
# when called, and ``suite.make`` when it builds an attack, so a bad budget fails at once.
SETTINGS = {
    "iterations": _count, "restarts": _count, "queries": _count, "n_targets": _count,
    "binary_steps": _count, "max_iterations": _count, "batch_size": _count, "steps_per_eps": _count,
    "delta": _positive, "lr": _positive, "initial_const": _positive,
    "mu": _non_negative, "confidence": _non_negative,
    "rho": _share, "p_init": _share,
    "stop_on_success": _flag, "abort_early": _flag,
    "rng": _seed,
}


def check_settings(**settings):
    """The settings, each checked by its rule in ``SETTINGS`` (ValueError naming it when
    bad) and normalised; returned in the order given."""
    out = {}
    for name, value in settings.items():
        if name not in SETTINGS:
            raise ValueError(f"unknown attack setting {name!r}")
        out[name] = SETTINGS[name](name, value)
    return out


def batches(n, batch_size):
    """Slices of at most ``batch_size`` covering range(n)."""
    if not _is_real(batch_size) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def selected(only, n):
    """The indices an attack works on: all of range(n) when ``only`` is None, else the
    True entries of a boolean mask of length n, or the given integer indices.

    Attacks draw their random numbers for all n examples whatever ``only`` says, so an
    example gets exactly the result a run on the whole set would give it (what lets a
    worst case run each attack on the examples still robust only)."""
    if only is None:
        return np.arange(n)
    only = np.asarray(only)
    if only.dtype == bool:
        if only.shape != (n,):
            raise ValueError(f"a boolean `only` mask must have shape ({n},), got {only.shape}")
        return np.flatnonzero(only)
    if (not np.issubdtype(only.dtype, np.integer) or only.ndim != 1
            or (only.size and (only.min() < 0 or only.max() >= n))):
        raise ValueError(f"`only` must be a boolean mask or indices into the {n} examples")
    return np.unique(only)


def project(x_adv, x, eps):
    """Back into the ε-ball around x and into [0, 1] (the one place both are enforced)."""
    return np.clip(np.clip(x_adv, x - eps, x + eps), 0, 1).astype(x.dtype, copy=False)


def random_start(x, eps, rng):
    """A uniform random point of the ε-ball around every image, clipped to [0, 1]. One
    draw for the whole set, so it does not depend on the batch size."""
    return project(x + rng.uniform(-eps, eps, size=x.shape).astype(x.dtype), x, eps)


# -- margins and losses on logits --------------------------------------------------------
def two_class(logits):
    """A one-logit binary network as two logits (0, y): class 1 wins iff y > 0."""
    return np.concatenate([np.zeros_like(logits), logits], axis=1)


def margin(logits, y):
    """max_{j != t} y_j - y_t per example (> 0 iff another class wins; Section 3.6's
    worst-case pair). One logit (binary): the logit pushed towards the wrong class."""
    if logits.shape[1] == 1:
        return np.where(y == 1, -logits[:, 0], logits[:, 0]).astype(np.float64)
    z = logits.astype(np.float64).copy()
    rows = np.arange(len(y))
    true = z[rows, y].copy()
    z[rows, y] = -np.inf
    return z.max(axis=1) - true


def loss_gradient(clf, x, y):
    """(logits, dJ/dx) with J the sum over examples of each one's cross-entropy."""
    logits = clf.forward(x)
    _, seed = cross_entropy(logits, y, reduction="sum")
    return logits, clf.backward(seed)


def attack_score(clf, x_adv, y, batch_size):
    """Higher is worse for the defender: +inf when misclassified, else the margin."""
    scores = np.empty(len(x_adv))
    for b in batches(len(x_adv), batch_size):
        logits = clf.forward(x_adv[b])
        scores[b] = np.where(predictions(logits) != y[b], np.inf, margin(logits, y[b]))
    return scores


def with_gradient(clf, gradient):
    """``clf`` with the front end's gradient crossing as ``gradient`` ("exact",
    "straight-through" or "bpda"); ``clf`` itself when it has no front end or already
    uses that gradient."""
    if clf.frontend is None or clf.frontend.gradient == gradient:
        return clf
    return type(clf)(clf.net, clf.frontend.with_gradient(gradient))


# -- central evaluation --------------------------------------------------------------------
def evaluate(clf, x, y, x_adv, eps=None, batch_size=1000, tol=1e-6):
    """Re-predict clean and adversarial images and check the attack's output (STYLE 10:
    nothing an attack returns is trusted).

    Raises ValueError if x_adv has another shape, is not floating point, leaves [0, 1]
    or (with ``eps``) the ℓ∞ ball of radius eps. Returns a dict:

    * ``robust_accuracy``: the share of ALL n examples classified correctly both clean and
      on x_adv (AutoAttack's and RobustBench's definition; the one number to quote);
    * ``adversarial_accuracy``: the plain accuracy on x_adv, whatever the clean prediction
      (what the paper's tables report; it can exceed ``robust_accuracy`` when an attack
      moves a misclassified image back to its class);
    * ``clean_accuracy``; ``success_rate``: the share of the clean-correct examples that
      x_adv misclassifies; ``n``; ``mean_linf`` and ``mean_l2`` of x_adv - x;
    * per example: ``clean`` (correct on x) and ``correct`` (correct on x_adv); an example
      is robust when both hold (``robust(result)``).
    """
    x, y, x_adv = np.asarray(x), np.asarray(y), np.asarray(x_adv)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"nothing to evaluate: x must hold n >= 1 images, got shape {x.shape}")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv has shape {x_adv.shape}, x has {x.shape}")
    if not np.issubdtype(x_adv.dtype, np.floating):
        raise ValueError(f"x_adv must be floating-point images, got dtype {x_adv.dtype}")
    n_classes = max(getattr(clf, "n_logits", 2), 2)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must be {len(x)} integer labels in [0, {n_classes - 1}], got shape {y.shape}, "
                         f"dtype {y.dtype}")
    if eps is not None:
        check_eps(eps)
    batches(len(x), batch_size)   # validates batch_size
    if not np.isfinite(x_adv).all() or x_adv.min() < -tol or x_adv.max() > 1 + tol:
        raise ValueError("adversarial images leave [0, 1] (or hold NaN)")
    d = (x_adv.astype(np.float64) - x).reshape(len(x), -1)
    linf = np.abs(d).max(axis=1)
    if eps is not None and linf.max() > eps + tol:
        raise ValueError(f"adversarial images leave the ℓ∞ ball: max |δ| = {linf.max():.6g} > ε = {eps}")
    clean = clf.predict(x, batch_size) == y
    correct = clf.predict(x_adv, batch_size) == y
    return {"n": int(len(x)), "clean_accuracy": float(clean.mean()),
            "robust_accuracy": float((clean & correct).mean()), "adversarial_accuracy": float(correct.mean()),
            "success_rate": float((~correct[clean]).mean()) if clean.any() else 0.0,
            "mean_linf": float(linf.mean()), "mean_l2": float(np.sqrt((d ** 2).sum(axis=1)).mean()),
            "clean": clean, "correct": correct}


def robust(result):
    """Per example, from an ``evaluate`` result (or its JSON copy): classified correctly
    both clean and on the adversarial image."""
    return np.asarray(result["clean"], bool) & np.asarray(result["correct"], bool)
