"""Robust accuracy as the per-example worst case over a suite of attacks (AutoAttack style).

    result = worst_case(clf, x, y, eps)              # the default suite for clf
    result.robust_accuracy                           # the number to quote
    result.broken_by                                 # per example: which attack broke it

Attacks run in a fixed order, each on the examples that every earlier attack left
classified correctly; an example counts as robust only if it survives them all. Every
attack's output is re-predicted here (nothing an attack claims is trusted) and checked
against the ε-ball and [0, 1] by ``evaluate``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .autopgd import apgd, apgd_targeted
from .common import check_eps, check_inputs, evaluate, project, with_gradient
from .gradient import pgd
from .square_attack import square

CLEAN = "clean"        # broken_by value of an example misclassified without any attack
ROBUST = ""            # broken_by value of an example no attack broke


@dataclass
class Attack:
    """One entry of a suite: ``run(clf, x, y, eps, only) -> x_adv`` attacks the examples
    ``only`` (a boolean mask) with the gradient through the front end named by
    ``gradient`` ("exact", "straight-through", "bpda"; None when the attack needs no
    gradient or brings its own)."""
    name: str
    run: object
    gradient: str | None = "exact"


@dataclass
class WorstCase:
    """What ``worst_case`` found: per example, the adversarial that broke it and the name of
    the attack that did (in suite order: the first to succeed), the robust accuracy left
    after each attack, and each attack's wall time."""
    x_adv: np.ndarray            # per example: the adversarial that broke it, else x
    broken_by: np.ndarray        # per example: attack name, CLEAN, or ROBUST ("")
    accuracy_after: dict = field(default_factory=dict)   # robust accuracy after each attack
    seconds: dict = field(default_factory=dict)

    @property
    def robust(self):
        return self.broken_by == ROBUST

    @property
    def robust_accuracy(self):
        return float(self.robust.mean())


def worst_case(clf, x, y, eps, attacks=None, batch_size=500, log=None):
    """Run ``attacks`` (a list of ``Attack``; ``default_suite(clf)`` when None) in order,
    each on the examples still classified correctly; returns a ``WorstCase``.

    Raises ``ValueError`` for an empty x: a robust accuracy over no images is undefined."""
    x, y = check_inputs(clf, x, y, eps)
    if len(x) == 0:
        raise ValueError(f"worst_case needs at least one image: a robust accuracy over none is undefined "
                         f"(x has shape {x.shape})")
    attacks = default_suite(clf) if attacks is None else list(attacks)
    names = [a.name for a in attacks]
    if len(set(names)) != len(names) or CLEAN in names or ROBUST in names:
        raise ValueError(f"attack names must be distinct and not {CLEAN!r}: {names}")
    x_adv = x.copy()
    broken_by = np.full(len(x), ROBUST, dtype=object)
    broken_by[clf.predict(x, batch_size) != y] = CLEAN
    result = WorstCase(x_adv, broken_by)
    result.accuracy_after[CLEAN] = result.robust_accuracy
    for attack in attacks:
        idx = np.flatnonzero(result.robust)
        t0 = time.perf_counter()
        if len(idx):
            target = clf if attack.gradient is None else with_gradient(clf, attack.gradient)
            # The whole set goes in, so every random draw is the one a run on all examples
            # would make: each attack here gives each example exactly its stand-alone result.
            adv = attack.run(target, x, y, eps, result.robust.copy())[idx]
            correct = evaluate(clf, x[idx], y[idx], adv, eps=eps, batch_size=batch_size)["correct"]
            x_adv[idx[~correct]] = adv[~correct]
            broken_by[idx[~correct]] = attack.name
        result.seconds[attack.name] = time.perf_counter() - t0
        result.accuracy_after[attack.name] = result.robust_accuracy
        if log:
            log(f"  {attack.name}: {100 * result.robust_accuracy:.2f}% robust "
                f"({len(idx):,} attacked, {result.seconds[attack.name]:.0f}s)")
    return result


def default_names(clf, n_targets=9, queries=5000):
    """The suite a user of the library should run, by name: APGD-CE once per way of
    crossing the front end (exact VJP, straight-through clip, BPDA identity), APGD-DLR (the
    margin loss for one-logit networks), APGD-T (networks with >= 4 classes), then the
    gradient-free Square Attack."""
    gradients = ("exact", "straight-through", "bpda") if clf.frontend is not None else ("exact",)
    names = [f"apgd-ce/{g}" for g in gradients]
    names.append("apgd-dlr/exact" if clf.n_logits >= 3 else "apgd-margin/exact")
    if clf.n_logits >= 4 and n_targets:
        names.append("apgd-t/exact")
    if queries:
        names.append("square")
    return names


def build_suite(names, iterations=100, n_targets=9, queries=5000, rng=0, source=None, batch_size=500):
    """``Attack`` entries from names, in order: "apgd-<loss>/<gradient>" (loss ce, dlr or
    margin; gradient exact, straight-through or bpda), "apgd-t/<gradient>", "square", and
    "transfer" (PGD, δ = ε/20, 80 iterations, on the classifier ``source``)."""
    out = []
    for name in names:
        kind, _, gradient = name.partition("/")
        gradient = gradient or "exact"
        if kind == "apgd-t":
            run = _bind(apgd_targeted, iterations=iterations, n_targets=n_targets, rng=rng, batch_size=batch_size)
        elif kind.startswith("apgd-"):
            run = _bind(apgd, loss=kind[5:], iterations=iterations, rng=rng, batch_size=batch_size)
        elif kind == "square":
            run, gradient = _bind(square, queries=queries, rng=rng, batch_size=2 * batch_size), None
        elif kind == "transfer":
            if source is None:
                raise ValueError("a transfer attack needs the classifier it crafts its adversarials on (source=...)")
            run, gradient = transfer(source, rng=rng, batch_size=batch_size), None
        else:
            raise ValueError(f"unknown attack {name!r}; see build_suite")
        out.append(Attack(name, run, gradient))
    return out


def default_suite(clf, iterations=100, n_targets=9, queries=5000, rng=0, batch_size=500):
    """``build_suite(default_names(clf))``: what ``worst_case`` runs when given no suite."""
    return build_suite(default_names(clf, n_targets, queries), iterations, n_targets, queries, rng,
                       batch_size=batch_size)


def _bind(fn, **kwargs):
    return lambda clf, x, y, eps, only=None: fn(clf, x, y, eps, only=only, **kwargs)


def transfer(source, steps_per_eps=20, iterations=80, rng=0, batch_size=500):
    """An ``Attack.run`` that crafts adversarials by PGD (δ = ε / ``steps_per_eps``) on the
    classifier ``source`` (e.g. the undefended network) and hands them to whichever
    classifier is evaluated: a black-box transfer attack."""
    def run(clf, x, y, eps, only=None):
        return pgd(source, x, y, eps, eps / steps_per_eps, iterations, rng=rng, batch_size=batch_size, only=only)
    return run


def random_sign(x, eps, rng=None):
    """x + ε sgn(u), u uniform: random corners of the ε-ball, clipped to [0, 1]. The
    baseline every attack must beat by far (a sanity check, Carlini et al. 2019)."""
    check_eps(eps)
    rng = np.random.default_rng(rng)
    x = np.asarray(x)
    return project(x + eps * rng.choice(np.array([-1, 1], x.dtype), size=x.shape), x, eps)
