"""Figure 7 and Appendix B.3: Carlini & Wagner's ℓ2 attack on cnn4 without and with the front
end (BPDA through it, as the paper does): how far the adversarials lie, in ℓ∞ and ℓ2."""
from __future__ import annotations

import numpy as np

from ..plots import plt, save
from ..settings import EPS, Settings
from ..specs import attack_spec
from .base import Section
from .text import HEAD, row

DEFENSES = ("none", "frontend")
# The paper's ℓ2 means are per pixel in scale (ℓ2 / √N, N = 784): raw ℓ2 would be 28x larger.
PAPER = {"fig7/none/mean_linf": 0.503, "fig7/none/mean_l2_per_sqrt_n": 0.076,
         "fig7/frontend/mean_linf": 0.826, "fig7/frontend/mean_l2_per_sqrt_n": 0.196,
         "fig7/frontend/accuracy": 4.05, "fig7/frontend/outside_budget": 98.0}
STATISTICS = ("accuracy", "mean_l2", "mean_l2_per_sqrt_n", "mean_linf", "outside_budget")


def key(defense, statistic=None):
    """``fig7/<defense>`` (the attack's result) or ``fig7/<defense>/<statistic>``."""
    return f"fig7/{defense}" + (f"/{statistic}" if statistic else "")


def jobs(plan):
    s = plan.settings
    # Appendix B.3: BPDA identity through the front end, as the paper does.
    return [(key(d), attack_spec(s.cnn4(d), "cw", 0.0, s.cw["n_test"], "bpda", **s.cw["settings"])) for d in DEFENSES]


def cells(run):
    """The distances are over the successful adversarials; ``outside_budget`` is the share
    of them with ℓ∞ > ε."""
    out = {}
    for defense in DEFENSES:
        r = run.results.get(key(defense))
        if r is None:
            continue
        ok = np.asarray(r["cw_success"], bool)
        linf, l2 = np.asarray(r["linf"])[ok], np.asarray(r["l2"])[ok]
        nan = (float("nan"), None)
        out[key(defense, "mean_linf")] = (float(linf.mean()), None) if ok.any() else nan
        out[key(defense, "mean_l2")] = (float(l2.mean()), None) if ok.any() else nan
        out[key(defense, "mean_l2_per_sqrt_n")] = (float(l2.mean() / np.sqrt(28 * 28)), None) if ok.any() else nan
        out[key(defense, "accuracy")] = (100 * r["adversarial_accuracy"], r["n"])
        out[key(defense, "outside_budget")] = (100 * float(np.mean(linf > EPS)), int(ok.sum())) if ok.any() else nan
    return out


def report(summ, ctx):
    cw = Settings(quick=ctx.quick).cw
    settings = cw["settings"]
    lines = ["", "## Figure 7 / Appendix B.3 — Carlini–Wagner ℓ2", "",
             f"The first {cw['n_test']} test images; confidence 0, Adam lr 0.01, initial constant 0.001, "
             f"{settings['binary_steps']} binary-search steps of up to {settings['max_iterations']} iterations with "
             "early abort; BPDA (identity) through the front end. Distances are over the successful "
             "adversarials. The paper's ℓ2 means match ℓ2/√N (N = 784) in scale, so they are paired with that "
             "row; raw ℓ2 is listed too. `outside_budget` is the share with ℓ∞ > 0.25.", "", HEAD]
    for defense in sorted(DEFENSES):
        for statistic in STATISTICS:
            if key(defense, statistic) in summ:
                lines.append(row(f"{defense}/{statistic}", key(defense, statistic), summ, digits=3))
    return lines


def figures(run, folder):
    if key("none") not in run.results or key("frontend") not in run.results:
        return []
    return [("Figure 7 — C&W ℓ2 distances", histograms(run.results, folder / "fig7.png"))]


def histograms(results, path, eps=EPS):
    """Histograms of the ℓ∞ and ℓ2 distances of the successful C&W adversarials on cnn4,
    without and with the front end."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for r_, defense in enumerate(DEFENSES):
        r = results[key(defense)]
        ok = np.asarray(r["cw_success"], bool)
        name = "without defense" if defense == "none" else "with front end"
        distances = (("ℓ∞", np.asarray(r["linf"])[ok]), ("ℓ2", np.asarray(r["l2"])[ok]))
        for col, (norm, values) in enumerate(distances):
            ax = axes[r_, col]
            ax.hist(values, bins=30, color="tab:blue" if defense == "none" else "tab:orange", alpha=0.85)
            mean = values.mean() if len(values) else float("nan")
            extra = f" (÷√N: {mean / 28:.3f})" if norm == "ℓ2" else ""
            ax.set(title=f"{norm} distance, {name}: mean {mean:.3f}{extra}", xlabel=f"{norm} distance",
                   ylabel="adversarial examples")
            if norm == "ℓ∞":
                ax.axvline(eps, color="red", linestyle="--", label=f"ℓ∞ budget ε = {eps}")
                ax.legend(fontsize=8)
    rates = [100 * np.mean(results[key(d)]["cw_success"]) for d in DEFENSES]
    fig.suptitle(f"Figure 7: C&W ℓ2 on the 4-layer CNN (n = {len(ok)}; success {rates[0]:.1f}% without, "
                 f"{rates[1]:.1f}% with the front end)")
    fig.tight_layout()
    return save(fig, path)


SECTION = Section("fig7", jobs, cells, figures=figures, report=report, paper=PAPER)
