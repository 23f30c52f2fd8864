"""Exact verification (beyond the paper): what no attack can tell. Every robust accuracy an
attack gives is an upper bound; for fc2 (784 -> 10 ReLU -> 1) and fc10 (784 -> 100 ReLU -> 10)
the exact answer is a mixed-integer program per example (``sparsenet.verify``). Beside it: the
worst case over the adaptive suite and the locally linear attack, the examples every attack
missed, and the exact minimal radius against Theorem 2's certified radius (Section 4).

Default: the four fc2 of Table 2's task without defense and as the sparse network, on every
binary test image, at the paper's ε = 0.25. ``--extended``: also ε = 0.1, and fc10 without
defense and sparse (MNIST, the first 2,000 test images) at both ε.
"""
from __future__ import annotations

import numpy as np

from ..defenses import network_label, suite
from ..plots import plt, save
from ..settings import DATASET_KEY, EPS
from ..specs import VerifySpec, attack_spec
from . import evaluation, multiclass, table2
from .base import Chooser, Section
from .text import ci, count, fmt, get, notes

NAME = "verify"
EPS_EXTENDED = 0.1
FC10_N = 2000                 # fc10: the first test images (as its worst case in the multiclass study)
RADIUS_N = {"sparse": 200, "none": 20}   # the first images of the minimal radius (undefended: seconds each)
QUICK_RADIUS_N = 5
TIME_LIMIT = 120.0            # seconds per example and program
QUICK_TIME_LIMIT = 10.0       # --quick: its briefly trained fc10 leaves hard programs; CI waits on them
DATASET_LABEL = {"mnist": "MNIST", "fashion": "Fashion"}


def networks(extended):
    """[(name, arch, dataset, defense, [eps...])] of the networks verified, in report order."""
    eps = (EPS, EPS_EXTENDED) if extended else (EPS,)
    out = [(f"fc2-{k}/{d}", "fc2", ds, d, eps) for ds, k in DATASET_KEY.items() for d in ("none", "sparse")]
    if extended:
        out += [(f"fc10-mnist/{d}", "fc10", "mnist", d, eps) for d in ("none", "sparse")]
    return out


def key(network, what, eps=None):
    """``verify/<network>/<eps>/<what>`` (what: "exact", "suite", "ll", cells...) or, without
    eps, ``verify/<network>/<what>`` (the radius's cells)."""
    return f"verify/{network}/{what}" if eps is None else f"verify/{network}/{eps:g}/{what}"


def model(plan, arch, dataset, defense):
    s = plan.settings
    if arch == "fc2":
        return table2.fc2(plan, dataset, defense, s.seed)
    if defense == "none":
        return s.fc10(dataset)
    choice = plan.choice or {ds: (multiclass.L1_SWEEP[1], "global") for ds in DATASET_KEY}
    return s.fc10(dataset, "sparse", l1=choice[dataset][0], rule=choice[dataset][1])


def jobs(plan):
    """Per network and ε: the exact answer (the suite's gradient attacks as the fast path), the
    adaptive suite's worst case and the locally linear attack (the same specs as the adaptive
    section's and Table 2's at ε = 0.25, so the same cache entries); per network, the minimal
    radius on the first images."""
    s, out = plan.settings, []
    limit = QUICK_TIME_LIMIT if s.quick else TIME_LIMIT
    for name, arch, dataset, defense, grid in networks(plan.extended):
        spec = model(plan, arch, dataset, defense)
        family = "binary" if arch == "fc2" else "multiclass"
        names = suite(family, defense, arch)
        n = s.n_test if arch == "fc2" else (s.n_test or FC10_N)
        fast = tuple(a for a in names if a.startswith("apgd") and not a.startswith("apgd-t"))
        for eps in grid:
            out.append((key(name, "exact", eps), VerifySpec(spec, eps, n, "exact", limit, fast, s.seed)))
            out.append((key(name, "suite", eps), evaluation.worst_case_spec(spec, names, n, s, eps)))
            out.append((key(name, "ll", eps), attack_spec(spec, "ll", eps, s.n_test, mode="semi-white")))
        if arch == "fc2":
            n_radius = QUICK_RADIUS_N if s.quick else RADIUS_N[defense]
            out.append((key(name, "radius"), VerifySpec(spec, EPS, n_radius, "radius", limit, fast, s.seed)))
    return out


def cells(run):
    out = {}
    for name, _, _, _, grid in networks(True):
        for eps in grid:
            out.update(exact_cells(run.results, name, eps))
        out.update(radius_cells(run.results, name))
    return out


def exact_cells(results, name, eps):
    """The exact robust accuracy (``exact``; ``exact_upper`` counts the unknown too), the worst
    case and the locally linear attack on the same images, ``unknown``, ``missed`` (broken
    exactly, robust under every attack run), ``missed_list`` (their indices) and the solver's
    ``seconds``."""
    found = results.get(key(name, "exact", eps))
    if found is None:
        return {}
    status = np.asarray(found["status"])
    n = len(status)
    out = {key(name, "exact", eps): (100 * float(np.mean(status == "robust")), n),
           key(name, "exact_upper", eps): (100 * float(np.mean(np.isin(status, ("robust", "unknown")))), n),
           key(name, "unknown", eps): (float(np.sum(status == "unknown")), None),
           key(name, "seconds", eps): (float(np.sum(found["seconds"])), None)}
    worst = worst_case(results, name, eps, n)
    if worst is not None:
        out[key(name, "worst_case", eps)] = (100 * float(worst.mean()), len(worst))
        out[key(name, "missed", eps)] = (float(len(missed(results, name, eps))), None)
    ll = results.get(key(name, "ll", eps))
    if ll is not None:
        out[key(name, "ll", eps)] = (100 * float(evaluation.verdict(ll)[:n].mean()), n)
    return out


def worst_case(results, name, eps, n):
    """Per example, robust under the suite and the locally linear attack (None if the suite has
    not run), on the first ``n`` images."""
    if key(name, "suite", eps) not in results:
        return None
    others = [evaluation.verdict(results[key(name, "ll", eps)])] if key(name, "ll", eps) in results else []
    return evaluation.both(evaluation.correct(results[key(name, "suite", eps)]), others)[:n]


def missed(results, name, eps):
    """The indices of the examples broken exactly that every attack run left robust."""
    status = np.asarray(results[key(name, "exact", eps)]["status"])
    worst = worst_case(results, name, eps, len(status))
    return [] if worst is None else [int(i) for i in np.flatnonzero(worst & (status[:len(worst)] == "broken"))]


def summary(cells_, run):
    """The missed examples by index (``verify/<network>/<eps>/missed_list``)."""
    return {key(name, "missed_list", eps): {"paper": None, "ours": missed(run.results, name, eps)}
            for name, _, _, _, grid in networks(True) for eps in grid if key(name, "exact", eps) in run.results}


def radius_cells(results, name):
    """The minimal radius against Theorem 2's on the examples it was found for (clean-correct,
    an exact optimum): their medians and ``looseness``, the median of their ratios."""
    found = results.get(key(name, "radius"))
    if found is None:
        return {}
    status = np.asarray(found["status"])
    exact = np.array([np.nan if v is None else v for v in found["radius"]], np.float64)
    certified = np.array([np.nan if v is None else v for v in found["certified"]], np.float64)
    ok = (status == "exact") & np.isfinite(exact) & (certified > 0)
    if not ok.any():
        return {}
    return {key(name, "radius_exact"): (float(np.median(exact[ok])), None),
            key(name, "radius_theorem2"): (float(np.median(certified[ok])), None),
            key(name, "looseness"): (float(np.median(exact[ok] / certified[ok])), None),
            key(name, "radius_n"): (float(ok.sum()), None)}


def report(summ, ctx):
    rows = [(name, arch, dataset, defense, eps) for name, arch, dataset, defense, grid in networks(True)
            for eps in grid if key(name, "exact", eps) in summ]
    if not rows:
        return []
    lines = ["", "## Exact verification: what is proved (fc2 and fc10; beyond the paper)", "",
             "Every other robust accuracy in this report is an upper bound: an example counts as robust because the "
             "attacks run on it failed. For fc2 and fc10 (Dense and ReLU layers) the exact answer is computed: "
             "\"is there an image in the ε-ball and in [0, 1] that the network misclassifies?\" is a mixed-integer "
             "linear program with one binary variable per ReLU whose sign the ball does not fix (Tjeng, Xiao & "
             "Tedrake 2019; `sparsenet.verify`, SciPy's HiGHS). *Exact* counts the examples proved robust; a "
             "*broken* one comes with an image the float32 network misclassifies; *unknown* (the solver's time "
             f"limit, {QUICK_TIME_LIMIT if ctx.quick else TIME_LIMIT:g} s per program) is never counted as robust. "
             "*Missed* are the examples broken exactly that survive the adaptive suite and the locally linear attack. Not proved: the front end "
             "(the top-K projection is not encoded) and cnn4.", "",
             "| network | ε | exact [95% CI] | worst case (suite + locally linear) | locally linear | missed | "
             "unknown | solver time (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, arch, dataset, defense, eps in rows:
        label = network_label(arch, defense, DATASET_LABEL[DATASET_KEY[dataset]])
        missed = get(summ, key(name, "missed_list", eps)) or []
        lines.append(f"| {label} | {eps:g} | **{fmt(get(summ, key(name, 'exact', eps)))}**"
                     f"{ci(summ, key(name, 'exact', eps))} | {fmt(get(summ, key(name, 'worst_case', eps)))} | "
                     f"{fmt(get(summ, key(name, 'll', eps)))} | {len(missed)}"
                     f"{' (' + ', '.join(map(str, missed)) + ')' if missed else ''} | "
                     f"{fmt(get(summ, key(name, 'unknown', eps)), 0)} | {fmt(get(summ, key(name, 'seconds', eps)), 0)} |")
    lines += ["", f"Images: every binary test image for fc2 ({count(summ, key('fc2-mnist/none', 'exact', EPS))} on "
              f"MNIST 3 vs 7); the first {FC10_N:,} test images for fc10. Missed examples are listed by their index "
              "in the test set."]
    lines += _radius_lines(summ)
    text = notes(NAME).get("conclusion")
    return lines + (["", text] if text else [])


def _radius_lines(summ):
    rows = [(name, arch, dataset, defense) for name, arch, dataset, defense, _ in networks(True)
            if key(name, "looseness") in summ]
    if not rows:
        return []
    lines = ["", "**How loose is Theorem 2?** Its certified radius (a logit moves by at most ε∏γ_l, Section 4) "
             "beside the exact minimal ℓ∞ distance to a misclassified image in [0, 1], on the first test images "
             f"(sparse: {RADIUS_N['sparse']}; no defense: {RADIUS_N['none']}; the examples where both are found):", "",
             "| network | examples | median exact radius | median Theorem 2 radius | median ratio |",
             "|---|---:|---:|---:|---:|"]
    for name, arch, dataset, defense in rows:
        label = network_label(arch, defense, DATASET_LABEL[DATASET_KEY[dataset]])
        lines.append(f"| {label} | {fmt(get(summ, key(name, 'radius_n')), 0)} | "
                     f"{fmt(get(summ, key(name, 'radius_exact')), 3)} | {fmt(get(summ, key(name, 'radius_theorem2')), 3)} | "
                     f"**{fmt(get(summ, key(name, 'looseness')), 1)}** |")
    return lines


def figures(run, folder):
    found = [(name, arch, dataset, defense, run.results[key(name, "radius")])
             for name, arch, dataset, defense, _ in networks(True) if key(name, "radius") in run.results]
    if not found:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for (name, arch, dataset, defense, r), color in zip(found, ("k", "tab:green", "tab:gray", "tab:olive")):
        exact = np.array([np.nan if v is None else v for v in r["radius"]], np.float64)
        certified = np.array([np.nan if v is None else v for v in r["certified"]], np.float64)
        ok = (np.asarray(r["status"]) == "exact") & np.isfinite(exact)
        ax.scatter(certified[ok], exact[ok], s=12, alpha=0.7, color=color,
                   label=network_label(arch, defense, DATASET_LABEL[DATASET_KEY[dataset]]))
    top = max(0.3, float(np.nanmax([v for *_, r in found for v in r["radius"] if v is not None] or [0.3])))
    ax.plot([0, top], [0, top], ":", color="tab:red", label="Theorem 2 = exact")
    ax.set(xlabel="Theorem 2's certified radius", ylabel="exact minimal radius (MILP)",
           title="The exact minimal ℓ∞ radius against Theorem 2's bound")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [("Exact verification — the minimal radius against Theorem 2's certified radius",
             save(fig, folder / "verify_radius.png"))]


SECTION = Section(NAME, jobs, cells, figures=figures, report=report, summary=summary, sparse=True,
                  chooser=Chooser(multiclass.sweep, multiclass.choice_key, "multiclass study's sparse network",
                                  classes=10, extended_only=True))
