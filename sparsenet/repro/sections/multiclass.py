"""The paper's second open question (Section 6), under the worst case (``--extended``): does
network sparsity carry to ten classes? ``fc10`` (784 -> 100 ReLU -> 10) without defense and
with first-layer l1, pruning to ρ = 3% and fine-tuning, on MNIST and Fashion-MNIST over the
training seeds, with Theorem 2's certified radius (Section 4)."""
from __future__ import annotations

import numpy as np

from ...models import PRUNE_RULES
from ...theory import certified_radius, gammas
from ..defenses import suite
from ..settings import DATASET_KEY, EPS
from ..specs import attack_spec
from . import evaluation, open_questions
from .base import Chooser, Section, seeded
from .models import model_cells
from .text import ci, count, fmt, get, notes, seeds

NAME = "multiclass"
L1_SWEEP = (1e-2, 3e-2, 1e-1, 3e-1)   # four strengths (fc10 trains for longer), up to where l1 collapses fc2
WORST_N = 2000            # the first test images of the worst case (clean and the paper's attack: all)
CERTIFIED_EPS = EPS
DEFENSES = ("none", "sparse")
TASKS = (("mnist", "MNIST"), ("fashion", "Fashion-MNIST"))


def stem(dataset, defense):
    return f"beyond/multiclass/{dataset}/{defense}"


def key(dataset, defense, what, seed=None, s=None):
    """``beyond/multiclass/<dataset>/<defense>/<what>``: what "clean", "ll", "suite",
    "worst_case", "certified", "median_radius", "Gamma", or a cell of the adaptive evaluation
    (``evaluation.key``) of the sparse network of the run's own seed."""
    k = f"{stem(dataset, defense)}/{what}"
    return k if seed is None else seeded(k, seed, s)


def choice_key(dataset, what):
    return open_questions.choice_key(NAME, dataset, what)


def sweep(s, dataset):
    """{(l1, rule): [TrainSpec per training seed]}: the sweep the sparse fc10's setting is
    chosen from."""
    return {(l1, rule): [s.fc10(dataset, "sparse", l1=l1, rule=rule, seed=seed) for seed in s.multiclass_seeds]
            for rule in PRUNE_RULES for l1 in L1_SWEEP}


def jobs(plan):
    """fc10 without defense and sparse, over the training seeds: clean and the multiclass
    locally linear attack on all test images, the worst case over the multiclass suite on the
    first WORST_N. The sparse network of the run's own seed gets the whole adaptive evaluation."""
    s, a, out = plan.settings, plan.settings.adaptive, []
    n_worst = s.n_test or WORST_N
    choice = plan.choice or {ds: (L1_SWEEP[1], "global") for ds in DATASET_KEY}
    for ds, k in DATASET_KEY.items():
        out += open_questions.sweep_jobs(NAME, sweep, s, s.multiclass_seeds, ds)
        for seed in s.multiclass_seeds:
            nets = {"none": s.fc10(ds, seed=seed),
                    "sparse": s.fc10(ds, "sparse", l1=choice[ds][0], rule=choice[ds][1], seed=seed)}
            for defense, model in nets.items():
                out.append((key(k, defense, "clean", seed, s), model))
                out.append((key(k, defense, "ll", seed, s), attack_spec(model, "ll", EPS, s.n_test, mode="semi-white")))
                names = suite("multiclass", defense, "fc10")
                if defense == "sparse" and seed == s.seed:
                    out += evaluation.network_jobs(
                        stem(k, defense), model, names, s, n_suite=n_worst, n_alone=a["sanity_n"], n_eps=a["fc2_eps_n"],
                        paper_eps=lambda eps, model=model: {
                            "paper": attack_spec(model, "ll", eps, a["fc2_eps_n"], mode="semi-white")})
                else:
                    out.append((key(k, defense, "suite", seed, s),
                                evaluation.worst_case_spec(model, names, n_worst, s)))
    return out


def cells(run):
    s = run.settings
    out = open_questions.sweep_cells(NAME, sweep, run, s.multiclass_seeds)
    for ds, k in DATASET_KEY.items():
        for seed in s.multiclass_seeds:
            for defense in DEFENSES:
                out.update(network_cells(run, ds, k, defense, seed))
        b = stem(k, "sparse")
        out.update(open_questions.evaluated_cells(run.results, b, suite("multiclass", "sparse", "fc10"), ("paper",),
                                                  ll=out.get(f"{b}/ll")))
    return out


def network_cells(run, ds, k, defense, seed):
    """Clean, the locally linear attack, the worst case and Theorem 2's certified radius of one
    network (one seed): ``certified``, the share of test images whose radius reaches ε = 0.25
    (%), ``median_radius`` and ``Gamma``, the product of the layers' γ."""
    s, out = run.settings, {}
    clean = key(k, defense, "clean", seed, s)
    if clean in run.infos:
        out.update(model_cells(clean, run.infos[clean], stem(k, defense), seed, s))
    ll = run.results.get(key(k, defense, "ll", seed, s))
    if ll is not None:
        out[key(k, defense, "ll", seed, s)] = (100 * ll["adversarial_accuracy"], ll["n"])
    result = run.results.get(key(k, defense, "suite", seed, s))
    if result is not None:
        ok = evaluation.correct(result)
        if ll is not None:
            ok = ok & evaluation.verdict(ll)[:len(ok)]   # the paper's attack ran on all test images
        out[key(k, defense, "worst_case", seed, s)] = (100 * float(ok.mean()), int(len(ok)))
    spec = dict(run.jobs.get(NAME, [])).get(clean)
    if spec is not None and run.runner is not None:
        net = run.runner.model(spec)
        x, y = run.runner.datasets.test_set(spec)
        radius = np.concatenate([certified_radius(net, x[i:i + 2000], y[i:i + 2000]) for i in range(0, len(x), 2000)])
        out[key(k, defense, "certified", seed, s)] = (100 * float(np.mean(radius >= CERTIFIED_EPS)), int(len(radius)))
        out[key(k, defense, "median_radius", seed, s)] = (float(np.median(radius)), None)
        out[key(k, defense, "Gamma", seed, s)] = (float(np.prod(gammas(net))), None)
    return out


def evaluated():
    return [(stem(k, "sparse"), f"fc10-{k}/sparse") for k in DATASET_KEY.values()]


def report(summ, ctx):
    if not any(k.startswith("beyond/multiclass/") for k in summ):
        return []

    def cell(k):
        return f"{fmt(get(summ, k))}{ci(summ, k)}" + (f"; {seeds(summ, k)}" if seeds(summ, k) else "")
    lines = ["", "### Network sparsity on ten classes (fc10: 784 → 100 ReLU → 10)", "",
             "fc10 has ten hidden units per class, as fc2 has ten for its one logit. The sparse network: ℓ1 on "
             "the first layer, pruning to ρ = 3%, two epochs of fine-tuning with the pruned weights held at zero; "
             "ℓ1 and pruning rule chosen by validation accuracy under the multiclass locally linear attack, from "
             f"ℓ1 ∈ {{{', '.join(f'{v:g}' for v in L1_SWEEP)}}} × both rules. "
             "Clean and the locally linear attack on "
             "all test images; the worst case (cnn4's suite and the locally linear attack) on the first "
             f"{count(summ, key('mnist', 'sparse', 'worst_case'))}. *Certified* is the share of test images "
             "whose Theorem 2 radius (a logit moves by at most ε∏γ_l) reaches ε = 0.25.", ""]
    for k, label in TASKS:
        l1, rule = get(summ, choice_key(k, "l1")), get(summ, choice_key(k, "rule"))
        if l1 is not None:
            lines.append(f"{label}: the sparse network's setting is ℓ1 = {l1:g}, {rule} pruning.")
    lines += ["", "| dataset | defense | clean | locally linear | worst case | certified at ε = 0.25 | "
              "median radius |", "|---|---|---:|---:|---:|---:|---:|"]
    for k, label in TASKS:
        for d in DEFENSES:
            if get(summ, key(k, d, "clean")) is not None:
                med = get(summ, key(k, d, "median_radius"))
                lines.append(f"| {label} | {d} | {cell(key(k, d, 'clean'))} | {cell(key(k, d, 'll'))} | "
                             f"**{cell(key(k, d, 'worst_case'))}** | {fmt(get(summ, key(k, d, 'certified')))} | "
                             f"{'—' if med is None else f'{med:.2g}'} |")
    text = notes(NAME).get("conclusion")
    return lines + ["", " ".join([*paragraph(summ), *([text] if text else [])])]


def paragraph(summ):
    out = []
    for k, label in TASKS:
        none = get(summ, key(k, "none", "worst_case") + "/mean") or get(summ, key(k, "none", "worst_case"))
        sparse = get(summ, key(k, "sparse", "worst_case") + "/mean") or get(summ, key(k, "sparse", "worst_case"))
        clean_n, clean_s = get(summ, key(k, "none", "clean") + "/mean"), get(summ, key(k, "sparse", "clean") + "/mean")
        if None in (none, sparse):
            continue
        out.append(f"On {label} the sparse fc10 keeps {sparse:.1f}% under the worst case against {none:.1f}% without "
                   "defense (means over the seeds)"
                   + (f", at a clean accuracy of {clean_s:.1f}% against {clean_n:.1f}%"
                      if None not in (clean_n, clean_s) else "") + ".")
    return [" ".join(out)] if out else []


SECTION = Section(NAME, jobs, cells, report=report, extended=True,
                  summary=lambda cells_, run: open_questions.sanity_summary(cells_, evaluated()),
                  chooser=Chooser(sweep, choice_key, "multiclass study's sparse network", classes=10))
