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

from .. import files  # noqa: E402
from . import adaptive  # noqa: E402
from .settings import EPS  # noqa: E402


def _save(fig, path):
    files.save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


# -- Figures 5-7 of the paper -------------------------------------------------------
def accuracy_vs_eps(results, section, path):
    """Figures 5 and 6 (Appendix B.1): binary accuracy vs ε, one line per defense/attack:
    the mean over the training seeds, with their min–max as a band."""
    curves = {}
    for key, r in results.items():
        if key.startswith(section + "/"):
            _, curve, eps = key.split("@")[0].split("/")
            curves.setdefault(curve, {}).setdefault(float(eps), []).append(100 * r["adversarial_accuracy"])
    dataset = "MNIST 3 vs 7" if section == "fig5" else "Fashion-MNIST T-shirt vs Pullover"
    fig, ax = plt.subplots(figsize=(7, 4.8))
    styles = {"no defense": ("k", "o"), "sparse net": ("tab:green", "s"), "front end": ("tab:blue", "^")}
    n_seeds = 1
    for curve, points in curves.items():
        eps = sorted(points)
        vals = [np.asarray(points[e]) for e in eps]
        n_seeds = max(n_seeds, max(len(v) for v in vals))
        color, marker = next(v for k, v in styles.items() if curve.startswith(k))
        dashed = "iterative" in curve
        white = "white box" in curve or curve.endswith(" white")
        color = color if not white else "tab:purple"
        ax.plot(eps, [v.mean() for v in vals], color=color, marker=marker, linestyle="--" if dashed else "-",
                label=curve)
        ax.fill_between(eps, [v.min() for v in vals], [v.max() for v in vals], color=color, alpha=0.12, linewidth=0)
    ax.set(xlabel="ℓ∞ budget ε (images in [0, 1])", ylabel="accuracy (%)", ylim=(-2, 102),
           title=f"{'Figure 5' if section == 'fig5' else 'Figure 6'}: {dataset}, accuracy vs ε "
                 f"(iterative: δ = ε/10, 10 steps)\nmean over {n_seeds} training seeds, band: min–max")
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


# -- the adaptive evaluation and the extended studies ------------------------------------
NETWORK_LABEL = {"cnn4/none": "cnn4, no defense", "cnn4/frontend": "cnn4, front end",
                 "fc2-mnist/none": "fc2 MNIST, no defense", "fc2-mnist/sparse": "fc2 MNIST, sparse net",
                 "fc2-mnist/frontend": "fc2 MNIST, front end", "fc2-fashion/none": "fc2 Fashion, no defense",
                 "fc2-fashion/sparse": "fc2 Fashion, sparse net", "fc2-fashion/frontend": "fc2 Fashion, front end"}


REDUCED_LABEL = "reduced suite: APGD-CE, Square 1,000 queries"   # what the accuracy-vs-ε curves run
WORST_LABEL = "worst case, full suite (ε = 0.25)"


def adaptive_vs_eps(results, path):
    """Accuracy vs ε for every network of the adaptive section: the reduced suite (APGD-CE
    and a shorter Square) against the paper's attack (cnn4: PGD; fc2: the locally linear
    attacks of Figures 5–6, per example the strongest), with the full suite's worst case at
    ε = 0.25 marked."""
    cells = adaptive.cells(results)
    nets = adaptive.networks(results)
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5), sharey=True)
    for ax, net in zip(axes.ravel(), nets):
        curves = {what: sorted((float(k.split("/")[-2]), v) for k, (v, _) in cells.items()
                               if k.startswith(f"adaptive/{net}/eps/") and k.endswith("/" + what))
                  for what in ("reduced", "paper")}
        if curves["reduced"]:
            ax.plot(*zip(*curves["reduced"]), "o-", color="tab:orange", label=REDUCED_LABEL)
        if curves["paper"]:
            ax.plot(*zip(*curves["paper"]), "s--", color="tab:blue", label="the paper's attack")
        worst = cells.get(f"adaptive/{net}/worst_case")
        if worst is not None:
            ax.plot([EPS], [worst[0]], "*", color="tab:red", markersize=13, label=WORST_LABEL)
        n = next((n for k, (_, n) in cells.items() if k.startswith(f"adaptive/{net}/eps/")), None)
        ax.set(title=f"{NETWORK_LABEL.get(net, net)} (n = {n})", xlabel="ε", ylim=(-2, 102))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(nets):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[1, 0].set_ylabel("accuracy (%)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Sanity check: accuracy must fall to 0 as ε grows (a reduced suite; the star: the full worst case)")
    fig.tight_layout()
    return _save(fig, path)


def adaptive_budgets(results, path):
    """APGD-CE's accuracy for 100 iterations, 400 iterations and 5 restarts, per network:
    a real robustness number hardly moves."""
    rows, labels = {}, {}
    for key, r in results.items():
        if key.startswith("adaptive/") and "/budget/" in key:
            net, role = key[len("adaptive/"):].split("/budget/")
            rows.setdefault(net, {})[role] = 100 * r["robust_accuracy"]
            settings = dict(r["spec"]["settings"])
            restarts = settings.get("restarts", 1)
            labels[role] = f"{settings['iterations']} iterations × {restarts} restart{'s' if restarts > 1 else ''}"
    fig, ax = plt.subplots(figsize=(10, 4.5))
    budgets = [b for b in ("base", "iterations", "restarts") if b in labels]
    width = 0.8 / max(len(budgets), 1)
    for i, b in enumerate(budgets):
        ax.bar(np.arange(len(rows)) + i * width, [v.get(b, np.nan) for v in rows.values()], width, label=labels[b])
    ax.set_xticks(np.arange(len(rows)) + width * (len(budgets) - 1) / 2,
                  [NETWORK_LABEL.get(n, n) for n in rows], rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="accuracy under APGD-CE (%)", title="Sanity check: more iterations and restarts change little")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def frontend_sweep(results, infos, section, path):
    """The extended studies on cnn4 with the front end: clean accuracy, the paper's PGD and
    the worst case against ρ (the robustness–accuracy trade-off) or against the basis."""
    values = []
    for key in infos:
        if key.startswith(section + "/") and key.endswith("/clean"):
            values.append(key.split("/")[1])
    if not values:
        return None
    if section == "rho":
        values.sort(key=float)
    metric = {"pgd": "adversarial_accuracy", "worst_case": "robust_accuracy"}
    get = lambda v, what: 100 * results[f"{section}/{v}/{what}"][metric[what]] \
        if f"{section}/{v}/{what}" in results else np.nan   # noqa: E731
    clean = [100 * infos[f"{section}/{v}/clean"]["test_accuracy"] for v in values]
    n = next((results[k]["n"] for k in results if k.startswith(section + "/")), None)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = [100 * float(v) for v in values] if section == "rho" else np.arange(len(values))
    for ys, style, label in ((clean, "o-", "clean"), ([get(v, "pgd") for v in values], "s--", "paper's PGD"),
                             ([get(v, "worst_case") for v in values], "^-", "worst case (reduced suite)")):
        ax.plot(x, ys, style, label=label)
    if section != "rho":
        ax.set_xticks(x, values)
    ax.set(xlabel="ρ = K/N (%)" if section == "rho" else "basis", ylabel="accuracy (%)", ylim=(-2, 102),
           title=f"cnn4 with the front end: {'sparsity level' if section == 'rho' else 'basis'} "
                 f"(4 epochs; attacks on the first {n} test images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def study_figures(results, infos, folder):
    """Figures of the adaptive evaluation and the extended studies whose results exist."""
    folder, out = Path(folder), []
    if any(k.startswith("adaptive/") and "/eps/" in k for k in results):
        out.append(("Adaptive evaluation — accuracy vs ε: a reduced suite against the paper's attack, and the "
                    "full worst case at ε = 0.25",
                    adaptive_vs_eps(results, folder / "adaptive_eps.png")))
    if any(k.startswith("adaptive/") and "/budget/" in k for k in results):
        out.append(("Adaptive evaluation — APGD-CE with more iterations and restarts",
                    adaptive_budgets(results, folder / "adaptive_budgets.png")))
    for section, title in (("rho", "The front end's sparsity level ρ on cnn4"), ("basis", "The front end's basis on cnn4")):
        path = frontend_sweep(results, infos, section, folder / f"{section}.png")
        if path is not None:
            out.append((title, path))
    return out


def beyond_eps(cells, path):
    """The open questions' defended networks against ε: the reduced suite beside the paper's
    (locally linear) attack, the full worst case at ε = 0.25 marked; the combined defense
    also beside each defense alone (their reduced suites from the adaptive section)."""
    def curve(prefix, what):
        return sorted((float(k[len(prefix):].split("/")[0]), v) for k, (v, _) in cells.items()
                      if k.startswith(prefix) and k.endswith("/" + what) and "@" not in k)

    panels = [(f"fc2 {label}: front end + sparse", f"beyond/combined/{ds}/combined",
               {"sparse net alone": f"adaptive/fc2-{ds}/sparse", "front end alone": f"adaptive/fc2-{ds}/frontend"})
              for ds, label in (("mnist", "MNIST 3 vs 7"), ("fashion", "Fashion"))]
    panels += [(f"fc10 {label}: sparse", f"beyond/multiclass/{ds}/sparse", {})
               for ds, label in (("mnist", "MNIST"), ("fashion", "Fashion-MNIST"))]
    panels = [p for p in panels if curve(f"{p[1]}/eps/", "reduced")]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (title, base, alone) in zip(axes[0], panels):
        ax.plot(*zip(*curve(f"{base}/eps/", "reduced")), "o-", color="tab:orange", label=REDUCED_LABEL)
        worst = cells.get(f"{base}/worst_case")
        if worst is not None:
            ax.plot([EPS], [worst[0]], "*", color="tab:red", markersize=13, label=WORST_LABEL)
        paper = curve(f"{base}/eps/", "paper")
        if paper:
            ax.plot(*zip(*paper), "s--", color="tab:blue", label="locally linear attack")
        for (label, other), color in zip(alone.items(), ("tab:green", "tab:purple")):
            points = curve(f"{other}/eps/", "reduced")
            if points:
                ax.plot(*zip(*points), ":", color=color, label=f"{label}: reduced suite")
        ax.set(title=title, xlabel="ε", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("accuracy (%)")
    fig.tight_layout()
    return _save(fig, path)


def beyond_figures(cells, folder):
    """The figure of the studies beyond the paper, when their results exist."""
    path = beyond_eps(cells, Path(folder) / "beyond_eps.png")
    return [] if path is None else [("Beyond the paper — the new defenses against ε: a reduced suite, the paper's "
                                     "attack, and the full worst case at ε = 0.25", path)]


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
