"""What the paper mentions but does not show, on cnn4 with the front end (``--extended``): the
front end's sparsity level ρ and its basis. Clean accuracy, the paper's PGD and the worst case
over a reduced suite, on the first 2,000 test images, after 4 training epochs."""
from __future__ import annotations

from functools import partial

import numpy as np

from ..plots import plt, save
from ..settings import EPS
from ..specs import attack_spec
from .base import Section
from .evaluation import worst_case_spec
from .models import model_cells
from .text import ci, count, fmt, get

RHO_SWEEP = (0.01, 0.02, 0.03, 0.05, 0.1)
BASIS_SWEEP = ("cdf97", "haar", "db4", "dct")
BASIS_LABEL = {"cdf97": "CDF 9/7", "haar": "Haar", "db4": "db4", "dct": "DCT"}   # as the REPORT names them
# The worst case of these studies, a reduced suite for time: APGD-CE (exact and straight-through),
# APGD-DLR and Square with the eps sweep's queries and one run.
STUDY_SUITE = ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-dlr/exact", "square")
STUDIES = {"rho": (RHO_SWEEP, "ρ (CDF 9/7, level 1)", "sparsity level"),
           "basis": (BASIS_SWEEP, "basis (ρ = 3%, level 1)", "basis")}


def stem(study, value):
    """``rho/<ρ>`` or ``basis/<name>``: where a network's cells are."""
    return f"{study}/{value:g}" if study == "rho" else f"{study}/{value}"


def key(study, value, what):
    """``<stem>/<what>``: what "clean", "pgd" or "worst_case"."""
    return f"{stem(study, value)}/{what}"


def study_model(s, study, value):
    """cnn4 behind the front end with ρ or the basis set to ``value`` (4 epochs)."""
    setting = {"rho": value} if study == "rho" else {"basis": value}
    return s.cnn4("frontend", epochs=None if s.quick else 4, **setting)


def n_test(s):
    return 100 if s.quick else 2000


def jobs(study, plan):
    s, a, out = plan.settings, plan.settings.adaptive, []
    for v in STUDIES[study][0]:
        model = study_model(s, study, v)
        out.append((key(study, v, "clean"), model))
        out.append((key(study, v, "pgd"), attack_spec(model, "pgd", EPS, n_test(s), delta=EPS / 20,
                                                      iterations=s.iterations, rng=s.seed)))
        out.append((key(study, v, "worst_case"), worst_case_spec(model, STUDY_SUITE, n_test(s), s,
                                                                 queries=a["eps_queries"], restarts=1)))
    return out


def cells(study, run):
    out = {}
    for v in STUDIES[study][0]:
        clean = key(study, v, "clean")
        if clean in run.infos:
            out.update(model_cells(clean, run.infos[clean], stem(study, v)))
        for what, metric in (("pgd", "adversarial_accuracy"), ("worst_case", "robust_accuracy")):
            r = run.results.get(key(study, v, what))
            if r is not None:
                out[key(study, v, what)] = (100 * r[metric], r["n"])
    return out


def report(study, summ, ctx):
    values, title, _ = STUDIES[study]
    if not any(key(study, v, "clean") in summ for v in values):
        return []
    lines = ["", f"## The front end's {title} on cnn4 (`--extended`)", "",
             "Trained for 4 epochs (the main table: 8); attacks on the first "
             f"{count(summ, key(study, values[0], 'pgd'))} test images. The worst case is per example over "
             f"{', '.join(STUDY_SUITE)} (the adaptive suite without APGD-T, BPDA and transfer, for time), "
             "so it is an upper bound on the true robust accuracy, like every worst case here.", "",
             f"| {study} | clean | PGD (final iterate) | worst case [95% CI] |", "|---|---:|---:|---:|"]
    rows = [(v, stem(study, v)) for v in values]
    if study == "basis":
        from . import learned_basis
        rows += learned_basis.basis_rows(summ)
    for v, b in rows:
        lines.append(f"| {v} | {fmt(get(summ, b + '/clean'))} | {fmt(get(summ, b + '/pgd'))} | "
                     f"{fmt(get(summ, b + '/worst_case'))}{ci(summ, b + '/worst_case')} |")
    return lines


def figures(study, run, folder):
    """Clean accuracy, the paper's PGD and the worst case against ρ (the robustness–accuracy
    trade-off) or against the basis."""
    values, _, what_varies = STUDIES[study]
    present = [v for v in values if key(study, v, "clean") in run.infos]
    if not present:
        return []

    def accuracy(v, what, metric):
        r = run.results.get(key(study, v, what))
        return np.nan if r is None else 100 * r[metric]
    n = next((run.results[key(study, v, w)]["n"] for v in values for w in ("pgd", "worst_case")
              if key(study, v, w) in run.results), None)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = [100 * v for v in present] if study == "rho" else np.arange(len(present))
    for ys, style, label in ((
            [100 * run.infos[key(study, v, "clean")]["test_accuracy"] for v in present], "o-", "clean"),
            ([accuracy(v, "pgd", "adversarial_accuracy") for v in present], "s--", "paper's PGD"),
            ([accuracy(v, "worst_case", "robust_accuracy") for v in present], "^-", "worst case (reduced suite)")):
        ax.plot(x, ys, style, label=label)
    if study != "rho":
        ax.set_xticks(x, present)
    ax.set(xlabel="ρ = K/N (%)" if study == "rho" else "basis", ylabel="accuracy (%)", ylim=(-2, 102),
           title=f"cnn4 with the front end: {what_varies} (4 epochs; attacks on the first {n} test images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    title = "The front end's sparsity level ρ on cnn4" if study == "rho" else "The front end's basis on cnn4"
    return [(title, save(fig, folder / f"{study}.png"))]


def section(study):
    return Section(study, partial(jobs, study), partial(cells, study), figures=partial(figures, study),
                   report=partial(report, study), extended=True)


RHO, BASIS = section("rho"), section("basis")
