"""Figures, drawn with matplotlib (Agg backend) and written atomically as PNGs.

Each function takes data that is already computed (result dicts, arrays) and a path;
nothing here runs an experiment.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import files  # noqa: E402


def _save(fig, path):
    files.save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


# -- Figures 5-7 of the paper -------------------------------------------------------
def accuracy_vs_eps(results, section, path):
    """Figures 5 and 6 (Appendix B.1): binary accuracy vs ε, one line per defense/attack."""
    curves = {}
    for key, r in results.items():
        if key.startswith(section + "/"):
            _, curve, eps = key.split("/")
            curves.setdefault(curve, []).append((float(eps), 100 * r["robust_accuracy"]))
    dataset = "MNIST 3 vs 7" if section == "fig5" else "Fashion-MNIST T-shirt vs Pullover"
    fig, ax = plt.subplots(figsize=(7, 4.8))
    styles = {"no defense": ("k", "o"), "sparse net": ("tab:green", "s"), "front end": ("tab:blue", "^")}
    for curve, points in curves.items():
        points.sort()
        color, marker = next(v for k, v in styles.items() if curve.startswith(k))
        dashed = "iterative" in curve
        white = "white box" in curve or curve.endswith(" white")
        ax.plot(*zip(*points), color=color if not white else "tab:purple", marker=marker,
                linestyle="--" if dashed else "-", label=curve)
    ax.set(xlabel="ℓ∞ budget ε (images in [0, 1])", ylabel="accuracy (%)", ylim=(-2, 102),
           title=f"{'Figure 5' if section == 'fig5' else 'Figure 6'}: {dataset}, accuracy vs ε "
                 f"(iterative: δ = ε/10, 10 steps)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def carlini_wagner_histograms(results, path, eps=0.25):
    """Figure 7 (Appendix B.3): histograms of the ℓ∞ and ℓ2 distances of successful C&W
    adversarials on cnn4, without and with the front end."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for row, defense in enumerate(("none", "frontend")):
        r = results[f"fig7/{defense}"]
        ok = np.asarray(r["cw_success"], bool)
        name = "without defense" if defense == "none" else "with front end"
        for col, (norm, values) in enumerate((("ℓ∞", np.asarray(r["linf"])[ok]), ("ℓ2", np.asarray(r["l2"])[ok]))):
            ax = axes[row, col]
            ax.hist(values, bins=30, color="tab:blue" if defense == "none" else "tab:orange", alpha=0.85)
            mean = values.mean() if len(values) else float("nan")
            extra = f" (÷√N: {mean / 28:.3f})" if norm == "ℓ2" else ""
            ax.set(title=f"{norm} distance, {name}: mean {mean:.3f}{extra}", xlabel=f"{norm} distance",
                   ylabel="adversarial examples")
            if norm == "ℓ∞":
                ax.axvline(eps, color="red", linestyle="--", label=f"ℓ∞ budget ε = {eps}")
                ax.legend(fontsize=8)
    fig.suptitle(f"Figure 7: C&W ℓ2 on the 4-layer CNN (n = {len(ok)}, success {100 * ok.mean():.1f}%)")
    fig.tight_layout()
    return _save(fig, path)


def paper_figures(results, folder):
    """Every paper figure whose results are present; returns [(title, path)]."""
    folder = Path(folder)
    out = []
    for section, title in (("fig5", "Figure 5 — MNIST: binary accuracy vs ε"),
                           ("fig6", "Figure 6 — Fashion-MNIST: binary accuracy vs ε")):
        if any(k.startswith(section + "/") for k in results):
            out.append((title, accuracy_vs_eps(results, section, folder / f"{section}.png")))
    if "fig7/none" in results and "fig7/frontend" in results:
        out.append(("Figure 7 — C&W ℓ2 distances", carlini_wagner_histograms(results, folder / "fig7.png")))
    return out
