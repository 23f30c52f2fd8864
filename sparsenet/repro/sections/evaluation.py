"""The adaptive evaluation of one network, as the adaptive section and the open questions run
it: the worst case over an attack suite, each attack alone, APGD-CE with more iterations and
restarts, a reduced suite against ε, and more Square runs with other seeds; the cells derived
from them, and the sanity checks of Carlini et al. (2019) that judge them (the library's
rules, ``attacks.checks``).

A per-example verdict is what makes a worst case: every attack result carries ``clean`` and
``correct`` (classified correctly on x, and on the attack's output); an example is robust
only if it is both, under every attack run on it.
"""
from __future__ import annotations

import numpy as np

from ...attacks import checks, settings_for
from ..settings import EPS
from ..specs import attack_spec

ADAPTIVE_EPS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)   # the accuracy-vs-eps sanity check
BUDGET_ROLES = ("base", "iterations", "restarts")   # APGD-CE's budgets (Settings.adaptive["budgets"])
SQUARE_SEEDS = 4            # more Square runs, one seed each, on the networks behind the front end
SQUARE_RUNS = (1, 2, 4)     # the worst case with this many of them in place of the suite's Square
GRADIENT_FREE = ("square",)
BLACK_BOX = ("transfer", "noise")
# Not in the gradient attacks' worst case that the masking check compares with Square: APGD from
# unit starts begins at 2H fixed corners, a gradient-free search of its own.
OWN_STARTS = ("apgd-units/exact",)


# -- keys: built here, read here ---------------------------------------------------------------
def key(base, *parts):
    """``<base>/<part>/...``: ``suite``, ``alone/<attack>``, ``budget/<role>``,
    ``eps/<eps>/<what>``, ``square-seed/<k>``, and the cells ``worst_case``, ``after/<attack>``..."""
    return "/".join((base,) + tuple(str(p) for p in parts))


def eps_key(base, eps, what):
    """``<base>/eps/<eps>/<what>``: what "reduced" (the reduced suite) or a paper attack."""
    return key(base, "eps", f"{eps:g}", what)


# -- jobs ------------------------------------------------------------------------------------------
def suite_settings(suite, s, queries=None, restarts=None):
    """The settings of a worst case over ``suite`` that its attacks take: APGD's iterations,
    APGD-T's targets, Square's queries and runs (the adaptive section's, or ``queries``,
    ``restarts``), and the run's seed."""
    a = s.adaptive
    kinds = {name.partition("/")[0] for name in suite}
    out = {"suite": tuple(suite), "rng": s.seed}
    if any(k.startswith("apgd") for k in kinds):
        out["iterations"] = a["iterations"]
    if "apgd-t" in kinds:
        out["n_targets"] = a["n_targets"]
    if "square" in kinds:
        out.update(queries=queries or a["queries"], restarts=restarts or a["square_restarts"])
    return out


def worst_case_spec(model, suite, n, s, eps=EPS, queries=None, restarts=None):
    return attack_spec(model, "worst_case", eps, n, **suite_settings(suite, s, queries, restarts))


def alone_spec(model, attack, n, s):
    """One attack of a suite run by itself on the first ``n`` test images, with the settings it
    has in the suite."""
    name, _, gradient = attack.partition("/")
    settings = settings_for(name, suite_settings((attack,), s))     # no seed for an attack that draws none
    return attack_spec(model, name, EPS, n, gradient or "exact", **settings)


def network_jobs(base, model, suite, s, n_suite, n_alone, n_eps, eps_grid=ADAPTIVE_EPS, budgets=True,
                 paper_eps=None, n_seeds=False, suite_spec=None):
    """The adaptive evaluation of one network, its jobs keyed under ``base``: the worst case over
    ``suite`` on the first ``n_suite`` test images (``suite_spec`` replaces its spec); each
    attack alone and (``budgets``) APGD-CE with more iterations and restarts on the first
    ``n_alone``; the reduced suite (APGD-CE and a shorter Square) against eps on the first
    ``n_eps``, beside ``paper_eps(eps)`` -> {name: AttackSpec}, the paper's attacks at that
    eps; and, unless ``n_seeds`` is False, Square run again with ``SQUARE_SEEDS`` other seeds
    on the first ``n_seeds``."""
    a, jobs = s.adaptive, []
    jobs.append((key(base, "suite"), suite_spec or worst_case_spec(model, suite, n_suite, s)))
    for attack in suite + ("noise",):
        jobs.append((key(base, "alone", attack), alone_spec(model, attack, n_alone, s)))
    if budgets:
        for role, (its, restarts) in zip(BUDGET_ROLES, a["budgets"]):
            jobs.append((key(base, "budget", role), attack_spec(model, "apgd-ce", EPS, n_alone, iterations=its,
                                                                restarts=restarts, rng=s.seed)))
    reduced = tuple(x for x in suite if x.startswith("apgd-ce")) + ("square",)
    for eps in eps_grid:
        jobs.append((eps_key(base, eps, "reduced"),
                     worst_case_spec(model, reduced, n_eps, s, eps, a["eps_queries"], 1)))
        for name, spec in (paper_eps(eps) if paper_eps else {}).items():
            jobs.append((eps_key(base, eps, name), spec))
    if n_seeds is not False:
        for k in range(1, SQUARE_SEEDS + 1):
            jobs.append((key(base, "square-seed", k), attack_spec(model, "square", EPS, n_seeds, queries=a["queries"],
                                                                  rng=s.seed + k)))
    return jobs


# -- cells -------------------------------------------------------------------------------------------
def correct(result):
    """Per example: robust under the attack, i.e. classified correctly both clean and on its
    output (``attacks.robust``)."""
    return np.asarray(result["clean"], bool) & np.asarray(result["correct"], bool)


def verdict(result):
    """Per-example robustness under an attack, counting any iterate when recorded."""
    ok = correct(result)
    return ok & np.asarray(result["any_iterate"]["correct"], bool) if "any_iterate" in result else ok


def both(ok, others):
    """``ok`` and, on its examples (the first ones), each verdict of ``others`` measured on at
    least as many test images."""
    for other in others:
        if len(other) >= len(ok):
            ok = ok & other[:len(ok)]
    return ok


def network_cells(results, base, suite, paper_keys=(), paper_eps=lambda eps: [], eps_grid=ADAPTIVE_EPS):
    """The cells of one network evaluated by ``network_jobs`` under ``base``: its worst case
    (the suite and the results ``paper_keys``, per example), the accuracy after each attack of
    the suite, each attack alone, the budgets, the reduced suite against eps (which takes in
    the results ``paper_eps(eps)`` at each eps) and the Square seeds study. A paper result
    measured on more test images than the suite counts on the suite's images (the first ones)."""
    out = {}
    result = results.get(key(base, "suite"))
    if result is None:
        return out
    n = result["n"]
    worst = both(correct(result), [verdict(results[k]) for k in paper_keys if k in results and "correct" in results[k]])
    out[key(base, "worst_case")] = (100 * float(worst.mean()), int(len(worst)))
    out[key(base, "suite")] = (100 * result["robust_accuracy"], n)
    out[key(base, "clean")] = (100 * result["clean_accuracy"], n)
    for name in suite:
        if name in result["accuracy_after"]:
            out[key(base, "after", name)] = (100 * result["accuracy_after"][name], n)
    out.update(_alone_cells(results, base, suite))
    for role in BUDGET_ROLES:
        r = results.get(key(base, "budget", role))
        if r is not None:
            out[key(base, "budget", role)] = (100 * r["robust_accuracy"], r["n"])
    for eps in eps_grid:
        at = [verdict(results[k]) for k in paper_eps(eps) if k in results]
        r = results.get(eps_key(base, eps, "reduced"))
        if at:   # on all the images the paper's attack ran on
            v = np.logical_and.reduce(at)
            out[eps_key(base, eps, "paper")] = (100 * float(v.mean()), int(len(v)))
        if r is not None:   # the reduced suite takes the paper's attack at this eps in too
            v = both(correct(r), at)
            out[eps_key(base, eps, "reduced")] = (100 * float(v.mean()), int(len(v)))
    out.update(square_seed_cells(results, base, worst, result))
    return out


def _alone_cells(results, base, suite):
    """Each attack alone, APGD-CE's strongest way through the front end, and the gradient
    attacks' per-example worst case."""
    out, alone = {}, {}
    for name in suite + ("noise",):
        r = results.get(key(base, "alone", name))
        if r is not None:
            alone[name] = r
            out[key(base, name)] = (100 * r["robust_accuracy"], r["n"])
    ce = [r for name, r in alone.items() if name.startswith("apgd-ce")]
    if ce:
        out[key(base, "apgd-ce")] = (100 * min(r["robust_accuracy"] for r in ce), ce[0]["n"])
    gradient = [r for name, r in alone.items() if name not in GRADIENT_FREE + BLACK_BOX + OWN_STARTS]
    if gradient:
        g = np.logical_and.reduce([correct(r) for r in gradient])
        out[key(base, "gradient_worst")] = (100 * float(g.mean()), int(len(g)))
    return out


def square_seed_cells(results, base, worst, suite):
    """How the worst case hangs on Square's random draws, on the first images the extra Square
    runs (one run each, other seeds) saw: ``square-runs/<k>`` the worst case with k of those
    runs in place of the suite's Square (k in SQUARE_RUNS); ``square-runs/suite`` the worst
    case itself (the suite's Square, its restarts included); ``square-runs/suite+1`` and
    ``suite+<all>`` with one or all the extra runs added; ``square-runs/move``: the points one
    more run of another seed takes off the worst case."""
    seeds = [results.get(key(base, "square-seed", k)) for k in range(1, SQUARE_SEEDS + 1)]
    if any(r is None for r in seeds):
        return {}
    m = seeds[0]["n"]
    runs = [correct(r) for r in seeds]
    # Square runs last in every suite: the examples it broke survived everything before it.
    before = worst[:m] | (np.asarray(suite["broken_by"][:m]) == "square")
    out = {}
    for k in SQUARE_RUNS:
        v = np.logical_and.reduce([before] + runs[:k])
        out[key(base, "square-runs", k)] = (100 * float(v.mean()), m)
    out[key(base, "square-runs", "suite")] = (100 * float(worst[:m].mean()), m)
    one, every = worst[:m] & runs[0], np.logical_and.reduce([worst[:m]] + runs)
    out[key(base, "square-runs", "suite+1")] = (100 * float(one.mean()), m)
    out[key(base, "square-runs", f"suite+{SQUARE_SEEDS}")] = (100 * float(every.mean()), m)
    out[key(base, "square-runs", "move")] = (100 * float((worst[:m] & ~runs[0]).mean()), None)
    return out


# -- the sanity checks --------------------------------------------------------------------------------
def sanity(cells, base, single_step, eps_grid=ADAPTIVE_EPS):
    """The sanity checks (``attacks.checks``: the library's rules) of one network from its cells
    (values in %): a list of ``attacks.checks.Check``. ``single_step``: (iterative accuracy,
    single-step accuracy, their names) for "iterative beats single-step", or None."""
    get = lambda *parts: (cells.get(key(base, *parts)) or (None,))[0]     # noqa: E731
    out = []
    curve = [(e, cells[eps_key(base, e, "reduced")][0]) for e in eps_grid if eps_key(base, e, "reduced") in cells]
    if curve:
        out.append(checks.falls_to_zero(curve))
    b1, b4, b5 = get("budget", "base"), get("budget", "iterations"), get("budget", "restarts")
    if None not in (b1, b4, b5):
        out.append(checks.budget_changes_little(b1, b4, b5))
    if single_step is not None and None not in single_step[:2]:
        out.append(checks.iterative_beats_single_step(*single_step))
    white, transfer = get("gradient_worst"), get("transfer")
    if None not in (white, transfer):
        out.append(checks.white_box_beats_transfer(white, transfer))
    square = get("square")
    if None not in (white, square):
        out.append(checks.gradient_free_does_not_win(square, white))
    noise = get("noise")
    attacks = [v for v in (get("square"), get("gradient_worst"), get("transfer")) if v is not None]
    if noise is not None and attacks:
        out.append(checks.noise_is_far_weaker(noise, attacks))
    return out
