"""What the three studies of the paper's open questions (Section 6; ``combined``,
``multiclass``, ``learned_basis``) share: the adaptive evaluation of their defended network of
the run's own seed, its sanity checks, the opening and the sanity table of their part of
REPORT.md, and their figure against ε.

Each worst case there counts an example as robust only if it survives the adaptive suite and
the paper's attacks on it.
"""
from __future__ import annotations

from ..plots import plt, save
from ..settings import DATASET_KEY, EPS
from . import evaluation
from .base import seeded
from .evaluation import eps_key, key
from .models import model_cells

PAPER_ATTACKS = ("ll-semi-white", "ll-white", "ll")   # the paper's attacks, in every worst case here
REDUCED_LABEL = "reduced suite: APGD-CE, Square 1,000 queries"
WORST_LABEL = "worst case, full suite (ε = 0.25)"


def choice_key(study, dataset, what):
    """``beyond/<study>/<dataset>/l1`` or ``/rule``: a study's chosen setting in summary.json."""
    return f"beyond/{study}/{dataset}/{what}"


def sweep_stem(study, dataset, rule, l1):
    return f"beyond/{study}/{dataset}/sweep/{rule}/{l1:g}"


def sweep_jobs(study, sweep, s, seeds, dataset):
    """The networks of a study's sweep on ``dataset`` (``sweep(s, dataset)`` -> {(l1, rule):
    [TrainSpec per seed]}) as jobs, so that the report shows what the choice read."""
    k = DATASET_KEY[dataset]
    return [(seeded(f"{sweep_stem(study, k, rule, l1)}/clean", seed, s), spec)
            for (l1, rule), specs in sweep(s, dataset).items() for seed, spec in zip(seeds, specs)]


def sweep_cells(study, sweep, run, seeds):
    """The cells of a study's sweep networks (clean and validation accuracies)."""
    s, out = run.settings, {}
    for ds, k in DATASET_KEY.items():
        for l1, rule in sweep(s, ds):
            for seed in seeds:
                clean = seeded(f"{sweep_stem(study, k, rule, l1)}/clean", seed, s)
                if clean in run.infos:
                    out.update(model_cells(clean, run.infos[clean], sweep_stem(study, k, rule, l1), seed, s))
    return out


def evaluated_cells(results, base, suite, paper_eps_names=(), ll=None, eps_grid=evaluation.ADAPTIVE_EPS):
    """The adaptive evaluation's cells of the network under ``base`` (``evaluation``), its worst
    case taking in the paper's attacks on it, and ``<base>/paper_attack``: ``ll``, its locally
    linear cell, for the check "iterative beats single-step"."""
    out = evaluation.network_cells(results, base, suite, [key(base, a) for a in PAPER_ATTACKS],
                                   lambda eps: [eps_key(base, eps, name) for name in paper_eps_names], eps_grid)
    if out and ll is not None:
        out[key(base, "paper_attack")] = ll
    return out


def sanity_summary(cells, networks):
    """{``<base>/sanity/<check>``: entry} for [(base, network name)]: the sanity checks of the
    networks evaluated, against their own locally linear cell."""
    out = {}
    for base, _ in networks:
        if key(base, "worst_case") not in cells:
            continue
        values = {k: v[0] for k, v in cells.items()}
        single = (values.get(key(base, "apgd-ce")), values.get(key(base, "paper_attack")),
                  ("APGD-CE", "the locally linear attack"))
        for check in evaluation.sanity(cells, base, single):
            out[key(base, "sanity", check.name)] = {"paper": None, "ours": bool(check.holds),
                                                   "measured": check.measured}
    return out


def compare(a, b):
    if a is None or b is None:
        return None
    return "above" if a > b + 1e-9 else "below" if a < b - 1e-9 else "equal to"


# -- REPORT.md: the opening and the sanity table of the three studies --------------------------------
def opening(summ, ctx):
    if not any(k.startswith(("beyond/combined/", "beyond/multiclass/", "beyond/learned-basis/")) for k in summ):
        return []
    return ["", "## Beyond the paper: its open questions under the worst case (`--extended`)", "",
            "The paper's conclusion leaves three questions open: how to combine the front end with network "
            "sparsity, whether network sparsity carries to more than two classes, and whether a basis learned "
            "from data beats the wavelet. Every answer here is a per-example worst case (the adaptive suite and "
            "the paper's attacks; ε = 0.25), which a masked gradient cannot inflate. Cells: seed 0 [95% CI], then "
            "mean ± std (min–max) over the training seeds."]


def sanity_table(summ, networks):
    """The sanity checks of the studies' networks, [(base, network name)] in order."""
    rows = []
    for base, name in networks:
        prefix = key(base, "sanity", "")
        rows += [f"| {name} | {k[len(prefix):]} | {'yes' if c['ours'] else '**no** ⚠'} | {c['measured']} |"
                 for k, c in summ.items() if k.startswith(prefix)]
    if not rows:
        return []
    return ["", "Sanity checks of the adaptive evaluation on the new defended networks (seed 0):", "",
            "| network | check | holds | measured |", "|---|---|---|---|"] + rows


# -- the figure ------------------------------------------------------------------------------------
def against_eps(cells, panels, path):
    """The studies' defended networks against ε: the reduced suite beside the paper's (locally
    linear) attack, the full worst case at ε = 0.25 marked; ``panels``: [(title, base,
    {label: base of a network alone whose reduced suite is drawn too})]."""
    def curve(b, what):
        return [(e, cells[eps_key(b, e, what)][0]) for e in evaluation.ADAPTIVE_EPS if eps_key(b, e, what) in cells]

    panels = [p for p in panels if curve(p[1], "reduced")]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (title, base, alone) in zip(axes[0], panels):
        ax.plot(*zip(*curve(base, "reduced")), "o-", color="tab:orange", label=REDUCED_LABEL)
        worst = cells.get(key(base, "worst_case"))
        if worst is not None:
            ax.plot([EPS], [worst[0]], "*", color="tab:red", markersize=13, label=WORST_LABEL)
        paper = curve(base, "paper")
        if paper:
            ax.plot(*zip(*paper), "s--", color="tab:blue", label="locally linear attack")
        for (label, other), color in zip(alone.items(), ("tab:green", "tab:purple")):
            points = curve(other, "reduced")
            if points:
                ax.plot(*zip(*points), ":", color=color, label=f"{label}: reduced suite")
        ax.set(title=title, xlabel="ε", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("accuracy (%)")
    fig.tight_layout()
    return save(fig, path)
