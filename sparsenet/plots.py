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
    rates = [100 * np.mean(results[f"fig7/{d}"]["cw_success"]) for d in ("none", "frontend")]
    fig.suptitle(f"Figure 7: C&W ℓ2 on the 4-layer CNN (n = {len(ok)}; success {rates[0]:.1f}% without, "
                 f"{rates[1]:.1f}% with the front end)")
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


# -- the theory section ---------------------------------------------------------------
def theorem1(th, path):
    """Theorem 1 (Section 3.4): share of high-SNR neurons vs the input dimension N."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(th["N"], 100 * np.asarray(th["share"]), "o-", base=2)
    ax.set(xlabel="input dimension N", ylabel="neurons with |wᵢᵀx − bᵢ| > |wᵢᵀe| (%)", ylim=(None, 101),
           title="Theorem 1: the high-SNR share rises towards 100% with N")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def theorem2(th, path):
    """Theorem 2 (Section 4): per-layer bound ε∏γ_l vs the measured ‖e_j‖∞, plain and sparse fc2."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, (defense, rows) in zip(axes, th.items()):
        eps = [r["eps"] for r in rows]
        for j, color in zip(range(len(rows[0]["bound"])), ("tab:blue", "tab:orange")):
            name = "hidden layer" if j == 0 else "logit"
            ax.loglog(eps, [r["bound"][j] for r in rows], "-", color=color, label=f"{name}: bound")
            ax.loglog(eps, [r["ifgsm"][j] for r in rows], "o--", color=color, label=f"{name}: measured, I-FGSM")
            ax.loglog(eps, [r["random"][j] for r in rows], "x:", color=color, label=f"{name}: measured, random")
        ax.set(xlabel="ℓ∞ budget ε", title=f"fc2 MNIST 3 vs 7, {'sparse' if defense == 'sparse' else 'no'} "
                                         f"{'network' if defense == 'sparse' else 'sparsity'}")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("‖e_j‖∞ (largest over the test set)")
    axes[1].legend(fontsize=7)
    fig.suptitle("Theorem 2: the layer-wise bound holds, and sparsity shrinks it")
    fig.tight_layout()
    return _save(fig, path)


def flips_vs_eps(th, path):
    """Share of cnn4's switches that an attack flips, vs ε (the high-SNR regime in practice)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for defense, color in (("none", "k"), ("frontend", "tab:blue")):
        for attack, style in (("fgsm", "o-"), ("ifgsm", "s--")):
            pts = sorted((r["eps"], 100 * r["all"]) for r in th.get(defense, []) if r["attack"] == attack)
            if pts:
                ax.plot(*zip(*pts), style, color=color,
                        label=f"{attack.upper().replace('IF', 'I-F')}, {'front end' if defense == 'frontend' else 'no defense'}")
    ax.set(xlabel="ℓ∞ budget ε", ylabel="switches flipped (%)",
           title="cnn4 on MNIST: ReLU and max-pool switches flipped by the attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def theory_figures(th, folder):
    """The theory section's figures; returns [(title, path)]."""
    folder = Path(folder)
    return [("Theorem 1 — high-SNR neurons vs N", theorem1(th["theorem1"], folder / "theorem1.png")),
            ("Theorem 2 — layer bounds vs measured perturbations", theorem2(th["theorem2"], folder / "theorem2.png")),
            ("Switch flips on cnn4 vs ε", flips_vs_eps(th["flips"], folder / "switch_flips.png"))]
