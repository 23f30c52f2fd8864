"""Sanity checks of a robustness evaluation: is the worst case a claim, or an artefact of
attacks that were too weak or were misled by a masked gradient? (Carlini et al. 2019, "On
Evaluating Adversarial Robustness"; Athalye et al. 2018 for the masking signs.)

    diagnosis = diagnose(clf, x, y, eps=0.25)     # runs what the checks need, on x
    print(diagnosis)                              # one row per check: holds or FLAGGED
    diagnosis.flagged                             # the checks that failed

Each check is a small function of measured accuracies (in %, as reported), so that a run
whose attacks were cached elsewhere (the reproduction) judges by the same rules:

* ``falls_to_zero``: robust accuracy reaches 0 as ε grows (an attack that cannot reach 0
  at a budget that allows any image is broken, or the gradient is hidden);
* ``iterative_beats_single_step``: an iterative attack is at least as strong as FGSM;
* ``budget_changes_little``: 4x the iterations or 5 restarts of APGD-CE lower its
  accuracy by at most ``BUDGET_MARGIN`` points (else the base budget was not converged);
* ``gradient_free_does_not_win``: the gradient-free Square Attack does not beat the
  gradient attacks together by more than ``MASKING_MARGIN`` points (if it does, their
  gradients are masked: the masking flag);
* ``noise_is_far_weaker``: random corners of the ε-ball leave at least ``NOISE_MARGIN``
  points more than the weakest attack;
* ``white_box_beats_transfer``: adversarials transferred from an undefended network are
  not stronger than the white-box attacks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..progress import check_log, stderr
from .common import check_inputs, check_settings, evaluate, robust
from .suite import SQUARE_RESTARTS, default_names, make, settings_for, worst_case

MASKING_MARGIN = 1.0      # points by which Square may beat the gradient attacks before it is flagged
BUDGET_MARGIN = 2.0       # points by which 4x iterations or 5 restarts may still lower APGD-CE
NOISE_MARGIN = 10.0       # points by which noise must stay above the weakest attack


@dataclass
class Check:
    """One sanity check: its ``name`` (what should hold), whether it ``holds``, and what
    was ``measured`` (one line, the numbers in it)."""
    name: str
    holds: bool
    measured: str

    def __str__(self):
        return f"{'holds  ' if self.holds else 'FLAGGED'}  {self.name}: {self.measured}"


# -- the checks, as functions of measured accuracies (%) ------------------------------------
def falls_to_zero(curve):
    """``curve``: [(ε, robust accuracy %)] in increasing ε."""
    curve = sorted(curve)
    zero = next((e for e, v in curve if v == 0), None)
    last_e, last_v = curve[-1]
    return Check("accuracy falls to 0 as ε grows", zero is not None,
                 f"0% at ε = {zero:g}" if zero is not None else f"stalls at {last_v:.1f}% (ε = {last_e:g})")


def iterative_beats_single_step(iterative, single, names=("APGD-CE", "FGSM")):
    return Check("iterative beats single-step", iterative <= single,
                 f"{names[0]} {iterative:.1f}% vs {names[1]} {single:.1f}%")


def budget_changes_little(base, more_iterations, more_restarts, iterations=(100, 400), restarts=(1, 5)):
    """APGD-CE's accuracy at its base budget, with ``iterations[1]`` iterations, and with
    ``restarts[1]`` restarts."""
    drop = max(base - more_iterations, base - more_restarts)
    return Check(f"more iterations ({iterations[0]} → {iterations[1]}) or restarts ({restarts[0]} → {restarts[1]}) "
                 "change little", drop <= BUDGET_MARGIN,
                 f"APGD-CE {base:.1f}% → {more_iterations:.1f}% ({iterations[1] // iterations[0]}x the iterations), "
                 f"{more_restarts:.1f}% ({restarts[1]} restarts)")


def gradient_free_does_not_win(square, gradient):
    """``square``: the gradient-free attack alone; ``gradient``: the gradient attacks
    together (per-example worst case over them)."""
    holds = square >= gradient - MASKING_MARGIN
    return Check(f"gradient-free (Square) does not beat the gradient attacks by more than {MASKING_MARGIN:g} "
                 f"point{'' if MASKING_MARGIN == 1 else 's'}",
                 holds, f"Square {square:.1f}% vs gradient attacks {gradient:.1f}%"
                 + ("" if holds else ": the gradient is masked"))


def noise_is_far_weaker(noise, attacks):
    """``attacks``: the accuracies left by the attacks (the weakest one is their maximum)."""
    weakest = max(attacks)
    return Check("random sign noise is far weaker than any attack", noise > weakest + NOISE_MARGIN,
                 f"noise {noise:.1f}% vs the weakest attack {weakest:.1f}%")


def white_box_beats_transfer(white, transfer):
    return Check("white box beats transfer", white <= transfer, f"{white:.1f}% vs transfer {transfer:.1f}%")


# -- running what the checks need -------------------------------------------------------------
@dataclass
class Diagnosis:
    """What ``diagnose`` measured and judged: ``checks`` (a list of ``Check``) and
    ``accuracy`` (every robust accuracy measured, in %, by what was run)."""
    checks: list
    accuracy: dict = field(default_factory=dict)
    n: int = 0

    @property
    def flagged(self):
        return [c for c in self.checks if not c.holds]

    def table(self):
        """The checks as Markdown table rows under a header."""
        rows = ["| check | holds | measured |", "|---|---|---|"]
        rows += [f"| {c.name} | {'yes' if c.holds else '**no** ⚠'} | {c.measured} |" for c in self.checks]
        return "\n".join(rows)

    def __str__(self):
        head = (f"sanity checks on {self.n:,} images: "
                + (f"{len(self.flagged)} FLAGGED — the worst case is a warning, not a claim" if self.flagged
                   else "all hold"))
        return "\n".join([head] + [f"  {c}" for c in self.checks])


def diagnose(clf, x, y, eps, worst=None, source=None, eps_grid=None, iterations=100, queries=5000,
             square_restarts=SQUARE_RESTARTS, rng=0, batch_size=500, log=stderr):
    """Run what the sanity checks need on (x, y) and judge it; returns a ``Diagnosis``.

    Runs, each on all of x: FGSM; APGD-CE with ``iterations`` (and 4x them, and 5
    restarts); every other gradient attack of ``default_names(clf)`` (the other ways of
    crossing the front end, the DLR or margin loss; APGD-T with its 9 targets on >= 4
    classes; not APGD from unit starts); Square (``queries``, ``square_restarts`` runs); random sign noise; with
    ``source`` (e.g. the undefended network's classifier), PGD transferred from it; and
    the worst case over APGD-CE and Square at each ε of ``eps_grid`` (default: ε, 2ε, 3ε,
    4ε, capped at 1). ``worst``, a ``WorstCase`` already computed on the same (x, y, eps),
    is reported beside the attacks and is where the accuracy-against-ε curve starts.

    It costs about a dozen attack runs on x: give it a few hundred images (the worst case
    itself can be run on more). ``log``: progress lines (None: silent).
    """
    x, y = check_inputs(clf, x, y, eps)
    if len(x) == 0:
        raise ValueError(f"diagnose needs at least one image, x has shape {x.shape}")
    log = check_log(log)
    s = check_settings(iterations=iterations, queries=queries, restarts=square_restarts, rng=rng,
                       batch_size=batch_size)
    if worst is not None and len(worst.broken_by) != len(x):
        raise ValueError(f"worst must be the worst case of these {len(x)} images, it holds {len(worst.broken_by)}")
    grid = sorted({min(float(e), 1.0) for e in (eps_grid if eps_grid is not None else
                                                 (eps, 2 * eps, 3 * eps, 4 * eps))})
    if not grid or not all(np.isfinite(e) and e >= 0 for e in grid):
        raise ValueError(f"eps_grid must hold finite budgets >= 0, got {eps_grid!r}")
    common = dict(rng=s["rng"], batch_size=s["batch_size"])
    apgd = dict(iterations=s["iterations"], **common)
    square = dict(queries=s["queries"], restarts=s["restarts"], rng=s["rng"], batch_size=2 * s["batch_size"])

    def run(label, attack, at=eps):
        if log:
            log(f"diagnose: {label}")
        result = evaluate(clf, x, y, attack(clf, x, y, at, log=log), eps=at, batch_size=s["batch_size"])
        return result

    runs = {"FGSM": run("FGSM", make("fgsm", batch_size=s["batch_size"]))}
    # APGD from unit starts is left out: its 2H start corners are a gradient-free search of their
    # own, which would hide a masked gradient from the comparison with Square.
    names = [n for n in default_names(clf, queries=0) if not n.startswith("apgd-units")]
    for name in names:
        settings = dict(apgd, n_targets=min(9, clf.n_logits - 1)) if name.startswith("apgd-t") else apgd
        runs[name] = run(name, make(name, **settings_for(name, settings)))
    runs["APGD-CE, 4x iterations"] = run("APGD-CE, 4x iterations",
                                         make("apgd-ce/exact", **{**apgd, "iterations": 4 * s["iterations"]}))
    runs["APGD-CE, 5 restarts"] = run("APGD-CE, 5 restarts", make("apgd-ce/exact", restarts=5, **apgd))
    runs["Square"] = run("Square", make("square", **square))
    runs["noise"] = run("random sign noise", make("noise", rng=s["rng"]))
    if source is not None:
        runs["transfer"] = run("transfer", make("transfer", source=source, **common))
    pct = {k: 100 * r["robust_accuracy"] for k, r in runs.items()}
    gradient_worst = 100 * float(np.logical_and.reduce([robust(runs[n]) for n in names]).mean())
    pct["gradient attacks together"] = gradient_worst
    if worst is not None:
        pct["worst case"] = 100 * worst.robust_accuracy
    curve = []
    for e in grid:
        if worst is not None and e == eps:
            curve.append((e, 100 * worst.robust_accuracy))
            continue
        if log:
            log(f"diagnose: worst case over APGD-CE and Square at ε = {e:g}")
        suite = [make("apgd-ce/exact", **apgd), make("square", **square)]
        curve.append((e, 100 * worst_case(clf, x, y, e, suite, batch_size=s["batch_size"], log=log).robust_accuracy))
        pct[f"APGD-CE + Square at ε = {e:g}"] = curve[-1][1]
    checks = [falls_to_zero(curve),
              iterative_beats_single_step(pct["apgd-ce/exact"], pct["FGSM"]),
              budget_changes_little(pct["apgd-ce/exact"], pct["APGD-CE, 4x iterations"], pct["APGD-CE, 5 restarts"],
                                    iterations=(s["iterations"], 4 * s["iterations"])),
              gradient_free_does_not_win(pct["Square"], gradient_worst)]
    if source is not None:
        checks.append(white_box_beats_transfer(gradient_worst, pct["transfer"]))
    attacks = [pct["Square"], gradient_worst] + ([pct["transfer"]] if source is not None else [])
    checks.append(noise_is_far_weaker(pct["noise"], attacks))
    return Diagnosis(checks, pct, len(x))
