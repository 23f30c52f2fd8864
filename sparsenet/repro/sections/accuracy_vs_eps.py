"""Figures 5 and 6 (Appendix B.1): fc2's accuracy against ε on MNIST 3 vs 7 (Figure 5) and
Fashion-MNIST T-shirt vs Pullover (Figure 6), one curve per defense and attack, over the
training seeds (iterative attacks: δ = ε/10, 10 steps)."""
from __future__ import annotations

from functools import partial

import numpy as np

from ..defenses import DEFENSES
from ..plots import plt, save
from ..specs import attack_spec
from .base import Section, seeded
from .table2 import fc2

EPS_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
# (defense, locally linear mode, iterations, what the curve is called after the defense's label)
CURVES = (("none", "semi-white", 1, "linear attack"), ("sparse", "semi-white", 1, "linear attack"),
          ("sparse", "semi-white", 10, "iterative linear"), ("frontend", "semi-white", 1, "semi-white box"),
          ("frontend", "white", 1, "white box"), ("frontend", "semi-white", 10, "iterative semi-white"),
          ("frontend", "white", 10, "iterative white"))
# figure: (dataset, task, figure number, title in REPORT.md)
DATASETS = {"fig5": ("mnist", "MNIST 3 vs 7", "Figure 5", "Figure 5 — MNIST: binary accuracy vs ε"),
            "fig6": ("fashion-mnist", "Fashion-MNIST T-shirt vs Pullover", "Figure 6",
                     "Figure 6 — Fashion-MNIST: binary accuracy vs ε")}


def curve_label(defense, what):
    """"no defense: linear attack": a curve as the figure's legend and the keys name it."""
    return f"{DEFENSES[defense].label}: {what}"


def key(figure, defense, what, eps, seed=None, s=None):
    """``<figure>/<curve label>/<eps>``, e.g. ``fig5/front end: white box/0.25``."""
    k = f"{figure}/{curve_label(defense, what)}/{eps:g}"
    return k if seed is None else seeded(k, seed, s)


def points(figure, s):
    """(defense, mode, iterations, what, eps, seed) of every point, in job order."""
    return [(d, mode, its, what, eps, seed) for seed in s.fc2_seeds for d, mode, its, what in CURVES
            for eps in EPS_GRID]


def jobs(figure, plan):
    s, out = plan.settings, []
    dataset = DATASETS[figure][0]
    for defense, mode, its, what, eps, seed in points(figure, s):
        iterative = its > 1 and eps > 0   # at ε = 0 every attack is the identity
        steps = dict(iterations=its, delta=eps / 10) if iterative else {}
        spec = attack_spec(fc2(plan, dataset, defense, seed), "ll", eps, s.n_test, mode=mode, **steps)
        out.append((key(figure, defense, what, eps, seed, s), spec))
    return out


def cells(figure, run):
    out = {}
    for defense, _, _, what, eps, seed in points(figure, run.settings):
        k = key(figure, defense, what, eps, seed, run.settings)
        if k in run.results:
            out[k] = (100 * run.results[k]["adversarial_accuracy"], run.results[k]["n"])
    return out


def figures(figure, run, folder):
    if not any(key(figure, d, w, e, seed, run.settings) in run.results
               for d, _, _, w, e, seed in points(figure, run.settings)):
        return []
    return [(DATASETS[figure][3], draw(figure, run, folder / f"{figure}.png"))]


def draw(figure, run, path):
    """The mean over the training seeds, with their min–max as a band."""
    _, task, title, _ = DATASETS[figure]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    n_seeds = 1
    for defense, mode, its, what in CURVES:
        by_eps = {}
        for seed in run.settings.fc2_seeds:
            for eps in EPS_GRID:
                r = run.results.get(key(figure, defense, what, eps, seed, run.settings))
                if r is not None:
                    by_eps.setdefault(eps, []).append(100 * r["adversarial_accuracy"])
        if not by_eps:
            continue
        eps = sorted(by_eps)
        vals = [np.asarray(by_eps[e]) for e in eps]
        n_seeds = max(n_seeds, max(len(v) for v in vals))
        style, label = DEFENSES[defense], curve_label(defense, what)
        color = "tab:purple" if mode == "white" else style.color     # the white box apart; semi-white in the defense's
        ax.plot(eps, [v.mean() for v in vals], color=color, marker=style.marker, linestyle="--" if its > 1 else "-",
                label=label)
        ax.fill_between(eps, [v.min() for v in vals], [v.max() for v in vals], color=color, alpha=0.12, linewidth=0)
    ax.set(xlabel="ℓ∞ budget ε (images in [0, 1])", ylabel="accuracy (%)", ylim=(-2, 102),
           title=f"{title}: {task}, accuracy vs ε (iterative: δ = ε/10, 10 steps)\n"
                 f"mean over {n_seeds} training seeds, band: min–max")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return save(fig, path)


def section(figure):
    return Section(figure, partial(jobs, figure), partial(cells, figure), figures=partial(figures, figure), sparse=True)


FIG5, FIG6 = section("fig5"), section("fig6")
