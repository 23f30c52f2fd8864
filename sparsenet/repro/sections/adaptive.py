"""The adaptive evaluation (beyond the paper's tables): how robust is each defense really? cnn4
and fc2 with and without their defenses face a strong suite of attacks (``evaluation``); the
worst case per example over the suite and the paper's own attacks is the number to quote, and
the sanity checks say whether it is a claim."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..defenses import network_label, suite
from ..plots import plt, save
from ..settings import DATASET_KEY, EPS, Settings
from . import accuracy_vs_eps, evaluation, table1, table2
from .base import Section
from .evaluation import eps_key, key
from .text import ci, count, fmt, get

DATASET_LABEL = {"mnist": "MNIST", "fashion": "Fashion"}


@dataclass(frozen=True)
class Network:
    """A network of the section: its architecture, task (the binary dataset's key, or None
    for cnn4 on MNIST) and defense; ``family`` names its suite, ``label`` its rows."""
    arch: str
    dataset: str | None
    defense: str

    @property
    def family(self):
        return "multiclass" if self.arch == "cnn4" else "binary"

    @property
    def label(self):
        return network_label(self.arch, self.defense, DATASET_LABEL.get(self.dataset))


# {name: Network}, in report order
NETWORKS = {"cnn4/none": Network("cnn4", None, "none"), "cnn4/frontend": Network("cnn4", None, "frontend"),
            **{f"fc2-{k}/{d}": Network("fc2", k, d) for k in DATASET_KEY.values()
               for d in ("none", "sparse", "frontend")}}
# The paper's cell for the same network and its own attack, quoted beside the worst case.
PAPER_CELL = {"cnn4/none": table1.key("pgd", "none"), "cnn4/frontend": table1.key("pgd", "frontend"),
              **{f"fc2-{k}/{d}": table2.key(k, d) for k in DATASET_KEY.values()
                 for d in ("none", "sparse", "frontend")}}


def base(network):
    return f"adaptive/{network}"


def sanity_key(network, check=""):
    return f"{base(network)}/sanity/{check}"


def spec_of(plan, network):
    """The TrainSpec of a network of the section."""
    s, net = plan.settings, NETWORKS[network]
    if net.arch == "cnn4":
        return s.cnn4(net.defense)
    dataset = next(ds for ds, k in DATASET_KEY.items() if k == net.dataset)
    return table2.fc2(plan, dataset, net.defense, s.seed)


def jobs(plan):
    """Per network: the worst case over its suite on the whole test set; each attack alone,
    APGD-CE with more iterations and restarts, and the reduced suite against eps (cnn4: on
    the first images only; fc2: on all), for the sanity checks of Carlini et al. (2019);
    for the networks behind the front end, more Square runs with other seeds."""
    s, a, out = plan.settings, plan.settings.adaptive, []
    for network, net in NETWORKS.items():
        model = spec_of(plan, network)
        cnn = net.arch == "cnn4"

        def pgd(eps, model=model):
            return {"paper": evaluation.attack_spec(model, "pgd", eps, a["eps_n"], delta=eps / 20,
                                                    iterations=s.iterations, rng=s.seed)}
        out += evaluation.network_jobs(
            base(network), model, suite(net.family, net.defense, net.arch), s, n_suite=s.n_test,
            n_alone=a["sanity_n"] if cnn else s.n_test, n_eps=a["eps_n"] if cnn else a["fc2_eps_n"],
            paper_eps=pgd if cnn else None,   # the fc2 curves are Figures 5 and 6
            n_seeds=(a["seeds_n"] if cnn else s.n_test) if model.has_frontend else False)
    return out


def paper_attack_keys(network):
    """The result keys of the paper's own attacks on a network (all test images)."""
    net = NETWORKS[network]
    if net.arch == "cnn4":
        return [table1.key(a, net.defense) for a in ("ll-semi-white", "ll-white", "fgsm", "ifgsm", "mifgsm", "pgd")]
    if net.defense == "frontend":
        return [table2.key(net.dataset, f"frontend-{m}") for m in ("semi-white", "white")]
    return [table2.key(net.dataset, net.defense)]


def paper_eps_keys(network, eps):
    """The result keys of the paper's attacks at ``eps``: cnn4, the PGD run of the eps sweep;
    fc2, every curve of Figure 5 or 6 for its defense (the run's own seed)."""
    net = NETWORKS[network]
    if net.arch == "cnn4":
        return [eps_key(base(network), eps, "paper")]
    figure = "fig5" if net.dataset == "mnist" else "fig6"
    return [accuracy_vs_eps.key(figure, d, what, eps) for d, _, _, what in accuracy_vs_eps.CURVES if d == net.defense]


def cells(run):
    out = {}
    for network, net in NETWORKS.items():
        got = evaluation.network_cells(run.results, base(network), suite(net.family, net.defense, net.arch),
                                       paper_attack_keys(network),
                                       lambda eps, network=network: paper_eps_keys(network, eps))
        if got and PAPER_CELL[network] in run.cells:     # our cell with the paper's attack
            got[key(base(network), "paper_attack")] = run.cells[PAPER_CELL[network]]
        out.update(got)
    return out


def sanity(cells_, network):
    """The sanity checks of one network, from all the run's cells (values in %)."""
    b = base(network)
    values = {k: v[0] for k, v in cells_.items()}
    if NETWORKS[network].arch == "cnn4":
        d = NETWORKS[network].defense
        single = (values.get(table1.key("pgd", d)), values.get(table1.key("fgsm", d)), ("PGD", "FGSM"))
    else:
        single = (values.get(key(b, "apgd-ce")), values.get(key(b, "paper_attack")),
                  ("APGD-CE", "the locally linear attack"))
    return evaluation.sanity(cells_, b, single)


def summary(cells_, run):
    """The sanity checks of every network evaluated, in report order."""
    out = {}
    for network in NETWORKS:
        if key(base(network), "suite") in run.results:
            for check in sanity(cells_, network):
                out[sanity_key(network, check.name)] = {"paper": None, "ours": bool(check.holds),
                                                        "measured": check.measured}
    return out


# -- REPORT.md -----------------------------------------------------------------------------------
def headline(summ):
    """Two sentences for the top of the report: the front end's number as the paper's attack
    gives it, and as the worst case gives it."""
    wc, paper = get(summ, key(base("cnn4/frontend"), "worst_case")), get(summ, table1.key("pgd", "frontend"))
    if wc is None or paper is None:
        return []
    return [f"**How robust is the front end really?** With the paper's PGD (final iterate) the front-end cnn4 keeps "
            f"{paper:.2f}% of the test set at ε = 0.25; the per-example worst case over a strong adaptive suite "
            f"keeps **{wc:.2f}%**{ci(summ, key(base('cnn4/frontend'), 'worst_case'))} (see *Adaptive evaluation*).",
            ""]


def report(summ, ctx):
    networks = [n for n in NETWORKS if key(base(n), "worst_case") in summ]
    if not networks:
        return []
    adaptive = Settings(quick=ctx.quick).adaptive
    lines = ["", "## Adaptive evaluation (ε = 0.25): how robust is each defense really?", "",
             "Each network faces a suite of attacks run in order, each on the examples every earlier attack left "
             "classified correctly: APGD (Croce & Hein 2020) with the cross-entropy, DLR or margin loss, once per "
             "way of taking the gradient through the front end (the exact VJP; *straight-through*, the exact VJP "
             "without the clip's mask; *BPDA*, the identity), APGD-T on the 9 best other classes, PGD adversarials "
             "of the undefended network (*transfer*), on fc2 and fc10 APGD from the corners that switch each hidden "
             "unit on or off (*apgd-units*: a unit off wherever a gradient attack goes is invisible to it), and "
             "last the gradient-free Square Attack (5,000 queries, "
             f"{adaptive['square_restarts']} runs with new draws each). The "
             "**worst case** counts an example as robust only if it survives the suite and every attack of the "
             "paper's tables; it is the number to quote. *After* is the accuracy left after each attack of the "
             "suite (all test images); *alone* is each attack run by itself (cnn4: the first "
             f"{count(summ, key(base('cnn4/frontend'), 'square'))} test images; fc2: all).", "",
             "| network | clean | paper's cell | ours, paper's attack | worst case [95% CI] |",
             "|---|---:|---:|---:|---:|"]
    for net in networks:
        b = base(net)
        lines.append(f"| {NETWORKS[net].label} | {fmt(get(summ, key(b, 'clean')))} | "
                     f"{fmt(summ.get(PAPER_CELL[net], {}).get('paper'))} | {fmt(get(summ, key(b, 'paper_attack')))} | "
                     f"**{fmt(get(summ, key(b, 'worst_case')))}**{ci(summ, key(b, 'worst_case'))} |")
    for net in networks:
        lines += attack_table(summ, base(net), NETWORKS[net].label, suite(NETWORKS[net].family, NETWORKS[net].defense, NETWORKS[net].arch))
    lines += ["", "### Sanity checks (Carlini et al. 2019)", "",
              "A number is a claim only when these hold; a failed check is printed as a warning beside it. The rules "
              "are the library's (`sparsenet.attacks.checks`; `attacks.diagnose` runs them on any classifier); here "
              "they judge the cached runs.", "",
              "| network | check | holds | measured |", "|---|---|---|---|"]
    for net in networks:
        lines += sanity_rows(summ, sanity_key(net), NETWORKS[net].label)
    lines += ["", "Budgets: APGD-CE (exact gradient) with 100 iterations and 1 restart, 400 iterations, and 5 "
              "restarts (each from a new random start, on the examples the earlier ones left). Accuracy against ε: "
              "a **reduced suite**, not the worst case: APGD-CE (exact, and straight-through behind the front end) "
              f"and Square ({adaptive['eps_queries']:,} queries, one run) on the first "
              f"{count(summ, eps_key(base('cnn4/frontend'), EPS, 'reduced'))} test images for cnn4 and "
              f"{count(summ, eps_key(base('fc2-mnist/frontend'), EPS, 'reduced'))} for fc2, beside the paper's attack "
              "(cnn4; for fc2 see Figures 5 and 6); the figure marks the full suite's worst case at ε = 0.25 beside "
              "it. The reduced suite is what the check *accuracy falls to 0 as ε grows* reads: a check that holds "
              "for a weaker suite holds for the full one."]
    from . import combined    # the open question's networks behind the front end join the Square table
    rows = [(NETWORKS[n].label, base(n)) for n in networks] + combined.square_rows()
    return lines + square_seed_lines(summ, rows, adaptive)


def attack_table(summ, b, label, names):
    """One network's attacks: the accuracy after each in the suite, and each alone."""
    lines = ["", f"**{label}**", "", "| attack | after (all test images) | alone |", "|---|---:|---:|"]
    for name in names + ("noise",):
        after, alone = get(summ, key(b, "after", name)), get(summ, key(b, name))
        lines.append(f"| {name} | {fmt(after)} | {fmt(alone)}{ci(summ, key(b, name))} |")
    lines.append(f"| gradient attacks together (alone) | — | {fmt(get(summ, key(b, 'gradient_worst')))} |")
    return lines


def sanity_rows(summ, prefix, label):
    """The rows of the sanity table for the checks stored under ``prefix``."""
    return [f"| {label} | {k[len(prefix):]} | {'yes' if cell['ours'] else '**no** ⚠'} | {cell['measured']} |"
            for k, cell in summ.items() if k.startswith(prefix)]


def square_seed_lines(summ, networks, adaptive):
    """The Square seeds study: how the worst case moves with more runs of the random search."""
    rows = [(label, b) for label, b in networks if key(b, "square-runs", "suite") in summ]
    if not rows:
        return []
    k = evaluation.SQUARE_SEEDS
    lines = ["", "### Does the worst case hang on one random draw? (the Square Attack's seed)", "",
             "The Square Attack is a random search: on a network whose gradient is masked it decides the worst case, "
             "and another run with another seed breaks some of what one run misses. Each suite's Square therefore "
             f"runs {adaptive['square_restarts']} times, each run with new draws on the "
             f"examples the earlier runs left. Here {k} more runs, each with its own seed and the same "
             f"{adaptive['queries']:,} queries, "
             "on the first test images (cnn4: the first "
             f"{count(summ, key(base('cnn4/frontend'), 'square-runs', 'suite'))}; fc2: all): *k runs* is the worst "
             "case with k of them in place of the suite's Square; *suite* is the worst case itself; *+1* and "
             f"*+{k}* add one or all {k} runs to it; **move** is what one more run of another seed takes off the "
             "worst case, in points.", "",
             f"| network | 1 run | 2 runs | 4 runs | suite | suite + 1 run | suite + {k} runs | move (points) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, b in rows:
        values = [fmt(get(summ, key(b, "square-runs", c))) for c in (1, 2, 4, "suite", "suite+1", f"suite+{k}")]
        lines.append(f"| {label} | " + " | ".join(values) + f" | **{fmt(get(summ, key(b, 'square-runs', 'move')))}** |")
    return lines


# -- figures -------------------------------------------------------------------------------------------
REDUCED_LABEL = "reduced suite: APGD-CE, Square 1,000 queries"   # what the accuracy-vs-ε curves run
WORST_LABEL = "worst case, full suite (ε = 0.25)"


def figures(run, folder):
    out = []
    if any(eps_key(base(n), e, "reduced") in run.results for n in NETWORKS for e in evaluation.ADAPTIVE_EPS):
        out.append(("Adaptive evaluation — accuracy vs ε: a reduced suite against the paper's attack, and the "
                    "full worst case at ε = 0.25", accuracy_against_eps(run, folder / "adaptive_eps.png")))
    if any(key(base(n), "budget", role) in run.results for n in NETWORKS for role in evaluation.BUDGET_ROLES):
        out.append(("Adaptive evaluation — APGD-CE with more iterations and restarts",
                    budgets(run, folder / "adaptive_budgets.png")))
    return out


def curve(cells_, b, what, eps_grid=evaluation.ADAPTIVE_EPS):
    """[(eps, value)] of the cells ``eps/<eps>/<what>`` under ``b``."""
    return [(e, cells_[eps_key(b, e, what)][0]) for e in eps_grid if eps_key(b, e, what) in cells_]


def accuracy_against_eps(run, path):
    """Accuracy vs ε for every network of the section: the reduced suite (APGD-CE and a
    shorter Square) against the paper's attack (cnn4: PGD; fc2: the locally linear attacks of
    Figures 5–6, per example the strongest), with the full suite's worst case at ε = 0.25."""
    cells_ = cells(run)
    nets = [n for n in NETWORKS if key(base(n), "suite") in run.results]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5), sharey=True)
    for ax, net in zip(axes.ravel(), nets):
        b = base(net)
        reduced, paper = curve(cells_, b, "reduced"), curve(cells_, b, "paper")
        if reduced:
            ax.plot(*zip(*reduced), "o-", color="tab:orange", label=REDUCED_LABEL)
        if paper:
            ax.plot(*zip(*paper), "s--", color="tab:blue", label="the paper's attack")
        worst = cells_.get(key(b, "worst_case"))
        if worst is not None:
            ax.plot([EPS], [worst[0]], "*", color="tab:red", markersize=13, label=WORST_LABEL)
        n = next((cells_[eps_key(b, e, w)][1] for e in evaluation.ADAPTIVE_EPS for w in ("paper", "reduced")
                  if eps_key(b, e, w) in cells_), None)
        ax.set(title=f"{NETWORKS[net].label} (n = {n})", xlabel="ε", ylim=(-2, 102))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(nets):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[1, 0].set_ylabel("accuracy (%)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Sanity check: accuracy must fall to 0 as ε grows (a reduced suite; the star: the full worst case)")
    fig.tight_layout()
    return save(fig, path)


def budgets(run, path):
    """APGD-CE's accuracy for 100 iterations, 400 iterations and 5 restarts, per network: a
    real robustness number hardly moves."""
    rows, labels = {}, {}
    for net in NETWORKS:
        for role in evaluation.BUDGET_ROLES:
            r = run.results.get(key(base(net), "budget", role))
            if r is None:
                continue
            rows.setdefault(net, {})[role] = 100 * r["robust_accuracy"]
            settings = dict(r["spec"]["settings"])
            restarts = settings.get("restarts", 1)
            labels[role] = f"{settings['iterations']} iterations × {restarts} restart{'s' if restarts > 1 else ''}"
    fig, ax = plt.subplots(figsize=(10, 4.5))
    roles = [role for role in evaluation.BUDGET_ROLES if role in labels]
    width = 0.8 / max(len(roles), 1)
    for i, role in enumerate(roles):
        ax.bar(np.arange(len(rows)) + i * width, [v.get(role, np.nan) for v in rows.values()], width,
               label=labels[role])
    ax.set_xticks(np.arange(len(rows)) + width * (len(roles) - 1) / 2, [NETWORKS[n].label for n in rows],
                  rotation=20, ha="right", fontsize=8)
    ax.set(ylabel="accuracy under APGD-CE (%)", title="Sanity check: more iterations and restarts change little")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save(fig, path)


SECTION = Section("adaptive", jobs, cells, figures=figures, report=report, summary=summary, sparse=True)
