"""The theory section (beyond the paper's tables): the paper's theorems measured on this run's
trained networks: Theorem 1's high-SNR share (Section 3.4), Theorem 2's layer bounds beside
measured perturbations and the certified radius it gives (Section 4), and how many switches
flip under attack. Cached like an attack."""
from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from ... import attacks, files, theory
from ...linear_model import switch_flips
from ...models import Classifier
from .. import cache
from ..plots import plt, save
from ..settings import Settings
from ..specs import as_json, spec_hash
from .base import Plan, Section
from .models import model_cells
from .table2 import fc2

KEYS = ("theory/cnn4/none", "theory/cnn4/frontend", "theory/fc2-mnist/none", "theory/fc2-mnist/sparse")


def jobs(plan):
    """The networks measured: cnn4 without and with the front end, fc2 (MNIST 3 vs 7) without
    defense and Table 2's sparse network."""
    s = plan.settings
    return [(KEYS[0], s.cnn4()), (KEYS[1], s.cnn4("frontend")), (KEYS[2], s.fc2("mnist")),
            (KEYS[3], fc2(plan, "mnist", "sparse", s.seed))]


def cells(run):
    return {k: v for key in KEYS if key in run.infos for k, v in model_cells(key, run.infos[key], key).items()}


THEORY_EPS = (0.01, 0.02, 0.05, 0.1)                        # Theorem 2 and the certificate
FLIP_EPS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25)               # switch flips on cnn4
THEOREM1_N = (64, 256, 1024, 4096, 16384)


def measure(runner, s: Settings, sparse=None):
    """Theorems 1 and 2, the certified radius and switch flips, on this run's networks (the
    sparse fc2 is Table 2's, ``sparse``: {dataset: (l1, rule)}); cached in ``<cache>/theory``
    like the attacks (a dict of JSON-ready values)."""
    models = dict(jobs(Plan(s, sparse=sparse)))
    # The key covers the settings, the networks and the grids below, so changing any recomputes.
    grids = json.dumps([THEORY_EPS, FLIP_EPS, THEOREM1_N]).encode()
    key = "-".join([spec_hash(s), hashlib.sha256(grids).hexdigest()[:8]] + [m.key()[:6] for m in models.values()])
    path = runner.cache_dir / "theory" / f"theory-{key}.json"
    specs = {k: as_json(m) for k, m in models.items()}
    keys = {"theorem1", "theorem2", "certified", "flips", "spec", "wall_seconds"}

    def load(log):   # a corrupt file is moved aside (one log line) and recomputed
        out = cache.read_json(path, log)
        if out is None or out.get("spec") == specs and keys <= set(out):
            return out
        if log is not None:
            cache.move_aside(path, f"it lacks {sorted(keys - set(out))} or holds other settings", log)
        return None

    def compute():
        """The computation itself (minutes); writes ``path``, returns what it holds."""
        n, t0 = (100 if s.quick else 1000), time.perf_counter()
        runner.log("theory: Theorem 1 (Monte Carlo), Theorem 2 and certified radius on fc2, switch flips on cnn4")
        out = {"theorem1": {"N": list(THEOREM1_N),
                            "share": [theory.high_snr_fraction(N, M=1000, delta=0.01, C=0.003, trials=4, rng=N)
                                      for N in THEOREM1_N]}}
        out["theorem2"], out["certified"] = {}, {}
        for defense in ("none", "sparse"):
            spec = models[f"theory/fc2-mnist/{defense}"]
            net = runner.model(spec)
            x, y = runner.datasets.test_set(spec)
            out["theorem2"][defense] = theorem2_measured(net, x, y, s.seed)
            r = theory.certified_radius(net, x, y)
            out["certified"][defense] = {"median": float(np.median(r)), "mean": float(r.mean()),
                                         "certified_at": {f"{e:g}": float(np.mean(r > e)) for e in THEORY_EPS},
                                         "gammas": theory.gammas(net).tolist()}
        out["flips"] = {}
        for defense in ("none", "frontend"):
            spec = models[f"theory/cnn4/{defense}"]
            clf = runner.classifier(spec)
            x, y = runner.datasets.test_set(spec, n)
            out["flips"][defense] = flips_measured(clf, x, y)
        out["spec"] = {k: as_json(m) for k, m in models.items()}
        out["wall_seconds"] = time.perf_counter() - t0
        files.write_json(path, out)
        return json.loads(path.read_text())

    return cache.get_or_compute(path, load, compute, runner.log)


def theorem2_measured(net, x, y, seed):
    """Per eps: Theorem 2's bound per layer and the measured max_x ||e_j||_inf for a random
    sign perturbation and for I-FGSM (delta = eps/10, 10 steps), both clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    clf, rows = Classifier(net), []
    for eps in THEORY_EPS:
        random = np.clip(x + eps * rng.choice(np.array([-1, 1], x.dtype), x.shape), 0, 1)
        adversarial = attacks.iterative_fgsm(clf, x, y, eps, eps / 10, 10)
        rows.append({"eps": eps, "bound": theory.layer_bounds(net, eps).tolist(),
                     **{name: theory.measured_layer_perturbations(net, x, xp).max(axis=0).tolist()
                        for name, xp in (("random", random), ("ifgsm", adversarial))}})
    return rows


def flips_measured(clf, x, y):
    """Per eps and attack: the share of each layer's switches (ReLU and max-pool) that flip
    between x and x + e, as seen by the network (after the front end, if any)."""
    rows = []
    seen = clf.frontend(x) if clf.frontend is not None else x
    for eps in FLIP_EPS:
        for name, x_adv in (("fgsm", attacks.fgsm(clf, x, y, eps)),
                            ("ifgsm", attacks.iterative_fgsm(clf, x, y, eps, eps / 10, 10))):
            seen_adv = clf.frontend(x_adv) if clf.frontend is not None else x_adv
            flips = switch_flips(clf.net, seen, seen_adv)
            rows.append({"eps": eps, "attack": name,
                         "layers": {f.layer: float(f.flipped.mean() / f.size) for f in flips},
                         "all": float(sum(f.flipped.sum() for f in flips) / (len(x) * sum(f.size for f in flips)))})
    return rows


def report(summ, ctx):
    """The theory section: Theorem 1's shares, Theorem 2's bound against the measured
    worst case, the certified radius of the sparse fc2, and switch flips on cnn4."""
    th = ctx.theory
    if th is None:
        return []
    t1 = th["theorem1"]
    lines = ["", "## Theory, measured (Sections 3.4 and 4; beyond the paper's tables)", "",
             "**Theorem 1** (Monte Carlo, i.i.d. Gaussian weights, ‖x‖₂ = 1, δ = 0.01): share of neurons "
             "with |wᵢᵀx − bᵢ| > |wᵢᵀe| — " + ", ".join(f"N = {n:,}: {100 * v:.1f}%" for n, v in
                                                       zip(t1["N"], t1["share"])) + ".", "",
             "**Theorem 2** on the MNIST 3-vs-7 `fc2` (test set): bound ε∏γ_l on each layer's output change "
             "against the largest measured ‖e_j‖∞ (random sign and I-FGSM perturbations).", "",
             "| network | ε | layer | bound | measured, random | measured, I-FGSM | measured / bound |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for defense, rows in th["theorem2"].items():
        for r in rows:
            for j, bound in enumerate(r["bound"]):
                worst = max(r["random"][j], r["ifgsm"][j])
                lines.append(f"| {defense} | {r['eps']:g} | {j + 1} | {bound:.3g} | {r['random'][j]:.3g} | "
                             f"{r['ifgsm'][j]:.3g} | {worst / bound:.2f} |")
    lines += ["", "**Certified ℓ∞ radius** from Theorem 2 (a prediction cannot change while the logit's bound "
              "stays below its margin; this goes beyond the paper and is loose):", "",
              "| network | γ per layer | median radius | " +
              " | ".join(f"certified at ε = {e}" for e in next(iter(th["certified"].values()))["certified_at"]) + " |",
              "|---|---|---:|" + "---:|" * len(next(iter(th["certified"].values()))["certified_at"])]
    for defense, c in th["certified"].items():
        lines.append(f"| fc2 {defense} | {', '.join(f'{g:.3g}' for g in c['gammas'])} | {c['median']:.4f} | " +
                     " | ".join(f"{100 * v:.1f}%" for v in c["certified_at"].values()) + " |")
    lines += ["", "**Switch flips on cnn4** (share of all ReLU and max-pool switches that differ between x and "
              "x + e, as the network sees them; the high-SNR regime is few flips):", "",
              "| ε | FGSM, no defense | I-FGSM, no defense | FGSM, front end | I-FGSM, front end |",
              "|---:|---:|---:|---:|---:|"]
    flips = {(d, r["attack"], r["eps"]): r["all"] for d, rows in th["flips"].items() for r in rows}
    for eps in sorted({k[2] for k in flips}):
        vals = [flips.get((d, a, eps)) for d, a in (("none", "fgsm"), ("none", "ifgsm"),
                                                    ("frontend", "fgsm"), ("frontend", "ifgsm"))]
        lines.append(f"| {eps:g} | " + " | ".join("–" if v is None else f"{100 * v:.2f}%" for v in vals) + " |")
    return lines


# -- figures -------------------------------------------------------------------------------------
def theorem1(th, path):
    """Theorem 1 (Section 3.4): share of high-SNR neurons vs the input dimension N."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(th["N"], 100 * np.asarray(th["share"]), "o-", base=2)
    ax.set(xlabel="input dimension N", ylabel="neurons with |wᵢᵀx − bᵢ| > |wᵢᵀe| (%)", ylim=(None, 101),
           title="Theorem 1: the high-SNR share rises towards 100% with N")
    ax.grid(alpha=0.3)
    return save(fig, path)


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
    return save(fig, path)


def flips_vs_eps(th, path):
    """Share of cnn4's switches that an attack flips, vs ε (the high-SNR regime in practice)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for defense, color in (("none", "k"), ("frontend", "tab:blue")):
        for attack, style in (("fgsm", "o-"), ("ifgsm", "s--")):
            pts = sorted((r["eps"], 100 * r["all"]) for r in th.get(defense, []) if r["attack"] == attack)
            if pts:
                ax.plot(*zip(*pts), style, color=color,
                        label=f"{attack.upper().replace('IF', 'I-F')}, "
                              f"{'front end' if defense == 'frontend' else 'no defense'}")
    ax.set(xlabel="ℓ∞ budget ε", ylabel="switches flipped (%)",
           title="cnn4 on MNIST: ReLU and max-pool switches flipped by the attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


def figures(run, folder):
    """The theory section's figures; returns [(title, path)]."""
    th = run.theory
    if th is None:
        return []
    return [("Theorem 1 — high-SNR neurons vs N", theorem1(th["theorem1"], folder / "theorem1.png")),
            ("Theorem 2 — layer bounds vs measured perturbations", theorem2(th["theorem2"], folder / "theorem2.png")),
            ("Switch flips on cnn4 vs ε", flips_vs_eps(th["flips"], folder / "switch_flips.png"))]


SECTION = Section("theory", jobs, cells, figures=figures, report=report, sparse=True)
