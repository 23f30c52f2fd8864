"""The paper's first open question (Section 6), under the worst case (``--extended``): the front
end and network sparsity together. The sparse fc2 (Table 2's recipe, its l1 and pruning rule
chosen by the same validation-only rule from its own sweep) trained on front-end-sparsified
images, beside no defense and each defense alone (Table 2's networks), over the training seeds
of the binary tasks."""
from __future__ import annotations

from ...models import PRUNE_RULES
from ..defenses import suite
from ..settings import DATASET_KEY, EPS
from ..specs import attack_spec
from . import evaluation, open_questions
from .base import Chooser, Section, seeded
from .models import model_cells
from .sweep import L1_SWEEP
from .table2 import fc2
from .text import ci, fmt, get, notes, seeds

NAME = "combined"
DEFENSES = ("none", "sparse", "frontend", "combined")
TASKS = (("mnist", "MNIST", "MNIST 3 vs 7", "MNIST"), ("fashion", "Fashion", "Fashion-MNIST T-shirt vs Pullover",
                                                         "Fashion-MNIST"))


def stem(dataset, defense):
    return f"beyond/combined/{dataset}/{defense}"


def key(dataset, defense, what, seed=None, s=None):
    """``beyond/combined/<dataset>/<defense>/<what>``: what "clean", "ll-semi-white",
    "ll-white", "ll" (the stronger), "suite", "worst_case", or a cell of the adaptive
    evaluation (``evaluation.key``) of the combined network of the run's own seed."""
    k = f"{stem(dataset, defense)}/{what}"
    return k if seed is None else seeded(k, seed, s)


def choice_key(dataset, what):
    return open_questions.choice_key(NAME, dataset, what)


def sweep(s, dataset):
    """{(l1, rule): [TrainSpec per training seed]}: the sweep the combined network's setting is
    chosen from: Table 2's, on sparsified images."""
    return {(l1, rule): [s.fc2(dataset, "combined", l1=l1, rule=rule, seed=seed) for seed in s.fc2_seeds]
            for rule in PRUNE_RULES for l1 in L1_SWEEP}


def networks(plan, dataset, seed):
    """{defense: TrainSpec}: each defense alone is Table 2's network, so the cache is shared."""
    choice = plan.choice or {ds: (L1_SWEEP[1], "global") for ds in DATASET_KEY}
    return {"none": fc2(plan, dataset, "none", seed), "sparse": fc2(plan, dataset, "sparse", seed),
            "frontend": fc2(plan, dataset, "frontend", seed),
            "combined": plan.settings.fc2(dataset, "combined", l1=choice[dataset][0], rule=choice[dataset][1],
                                          seed=seed)}


def modes(model):
    return ("semi-white", "white") if model.has_frontend else ("semi-white",)


def jobs(plan):
    """Clean, the locally linear attack (both variants where there is a front end) and the
    worst case over each defense's adaptive suite on all test images; the combined network of
    the run's own seed gets the whole adaptive evaluation (sanity checks, the Square seeds
    study), with the locally linear attacks as the paper's attacks against eps."""
    s, a, out = plan.settings, plan.settings.adaptive, []
    for ds, k in DATASET_KEY.items():
        out += open_questions.sweep_jobs(NAME, sweep, s, s.fc2_seeds, ds)
        for seed in s.fc2_seeds:
            for defense, model in networks(plan, ds, seed).items():
                out.append((key(k, defense, "clean", seed, s), model))
                for mode in modes(model):
                    out.append((key(k, defense, f"ll-{mode}", seed, s), attack_spec(model, "ll", EPS, s.n_test,
                                                                                    mode=mode)))
                names = suite("binary", defense, "fc2")
                if defense == "combined" and seed == s.seed:
                    out += evaluation.network_jobs(
                        stem(k, defense), model, names, s, n_suite=s.n_test, n_alone=s.n_test, n_eps=a["fc2_eps_n"],
                        paper_eps=lambda eps, model=model: {
                            f"paper-{m}": attack_spec(model, "ll", eps, a["fc2_eps_n"], mode=m) for m in modes(model)},
                        n_seeds=s.n_test)
                else:
                    out.append((key(k, defense, "suite", seed, s),
                                evaluation.worst_case_spec(model, names, s.n_test, s)))
    return out


def cells(run):
    s = run.settings
    out = open_questions.sweep_cells(NAME, sweep, run, s.fc2_seeds)
    for k in DATASET_KEY.values():
        for seed in s.fc2_seeds:
            for defense in DEFENSES:
                out.update(network_cells(run, k, defense, seed))
        b = stem(k, "combined")
        out.update(open_questions.evaluated_cells(run.results, b, suite("binary", "combined", "fc2"),
                                                  ("paper-semi-white", "paper-white"), ll=out.get(f"{b}/ll")))
    return out


def network_cells(run, k, defense, seed):
    """Clean, the locally linear cells and the worst case of one network (one seed)."""
    s, out = run.settings, {}
    clean = key(k, defense, "clean", seed, s)
    if clean in run.infos:
        out.update(model_cells(clean, run.infos[clean], stem(k, defense), seed, s))
    attacked = {}
    for mode in ("semi-white", "white"):
        r = run.results.get(key(k, defense, f"ll-{mode}", seed, s))
        if r is not None:
            attacked[mode] = r
            out[key(k, defense, f"ll-{mode}", seed, s)] = (100 * r["adversarial_accuracy"], r["n"])
    if "semi-white" in attacked:   # the paper's cell: the stronger of the two variants, as in Table 2
        semi = out[key(k, defense, "ll-semi-white", seed, s)]
        out[key(k, defense, "ll", seed, s)] = min(semi, out.get(key(k, defense, "ll-white", seed, s), semi))
    result = run.results.get(key(k, defense, "suite", seed, s))
    if result is not None:
        ok = evaluation.correct(result)
        for r in attacked.values():
            ok = ok & evaluation.verdict(r)[:len(ok)]
        out[key(k, defense, "worst_case", seed, s)] = (100 * float(ok.mean()), int(len(ok)))
    return out


def evaluated():
    """(base, name) of the networks the study evaluates in full."""
    return [(stem(k, "combined"), f"fc2-{k}/combined") for k in DATASET_KEY.values()]


def square_rows():
    """(label, base) of the combined networks for the adaptive section's Square seeds table."""
    return [(f"fc2 {label}, front end + sparse (*Beyond the paper*)", stem(k, "combined")) for k, label, _, _ in TASKS]


def report(summ, ctx):
    if not any(k.startswith("beyond/combined/") for k in summ):
        return []

    def cell(k):
        return f"{fmt(get(summ, k))}{ci(summ, k)}" + (f"; {seeds(summ, k)}" if seeds(summ, k) else "")
    lines = ["", "### Front end + network sparsity (fc2, binary tasks)", "",
             "The sparse network trained on images sparsified by the front end (CDF 9/7, level 1, ρ = 3%); "
             "its ℓ1 and pruning rule chosen, like Table 2's, by validation accuracy under the locally linear "
             "attack (here the white box through the front end), from Table 2's sweep "
             f"(ℓ1 ∈ {{{', '.join(f'{v:g}' for v in L1_SWEEP)}}} × both pruning rules). "
             "The worst case is over each "
             "defense's adaptive suite (the combined network: the front end's) and the locally linear attacks, on "
             "all test images.", ""]
    for k, _, task, _ in TASKS:
        l1, rule = get(summ, choice_key(k, "l1")), get(summ, choice_key(k, "rule"))
        if l1 is not None:
            lines.append(f"{task}: the combined network's setting is ℓ1 = {l1:g}, {rule} pruning.")
    lines += ["", "| task | defense | clean | locally linear | worst case |", "|---|---|---:|---:|---:|"]
    for k, label, _, _ in TASKS:
        for d in DEFENSES:
            if get(summ, key(k, d, "clean")) is not None:
                lines.append(f"| {label} | {d} | {cell(key(k, d, 'clean'))} | {cell(key(k, d, 'll'))} | "
                             f"**{cell(key(k, d, 'worst_case'))}** |")
    text = notes(NAME).get("conclusion")
    return lines + ["", " ".join([*paragraph(summ), *([text] if text else [])])]


def paragraph(summ):
    """The sentence the numbers make: the combined defense against each defense alone."""
    out = []
    for k, _, _, name in TASKS:
        wc = {d: get(summ, key(k, d, "worst_case") + "/mean") or get(summ, key(k, d, "worst_case")) for d in DEFENSES}
        if None in wc.values():
            continue
        best = max(("sparse", "frontend"), key=lambda d: wc[d])
        out.append(f"On {name} the combined defense's worst case averages {wc['combined']:.1f}% over the seeds, "
                   f"{open_questions.compare(wc['combined'], wc[best])} the better defense alone ({best}, "
                   f"{wc[best]:.1f}%; the front end alone {wc['frontend']:.1f}%, no defense {wc['none']:.1f}%).")
    return [" ".join(out)] if out else []


SECTION = Section(NAME, jobs, cells, report=report, extended=True, sparse=True,
                  summary=lambda cells_, run: open_questions.sanity_summary(cells_, evaluated()),
                  chooser=Chooser(sweep, choice_key, "combined study's sparse network"))
