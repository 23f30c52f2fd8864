"""Table 2 (Section 5.2): the 2-layer binary network fc2 on MNIST 3 vs 7 and Fashion-MNIST
T-shirt vs Pullover, without defense, as the sparse network (Section 4) and behind the front
end, under the locally linear attack at ε = 0.25, over the training seeds."""
from __future__ import annotations

from ..settings import DATASET_KEY, EPS
from ..specs import attack_spec
from .base import Section, seeded
from .text import HEAD_SEEDS, row

DEFENSES = ("none", "sparse", "frontend")
PAPER = {"table2/mnist/none": 8.31, "table2/mnist/sparse": 80.46, "table2/mnist/frontend": 80.68,
         "table2/fashion/none": 2.83, "table2/fashion/sparse": 66.94, "table2/fashion/frontend": 62.05}
TASKS = (("mnist", "MNIST 3 vs 7"), ("fashion", "Fashion-MNIST T-shirt vs Pullover"))


def key(dataset, cell, seed=None, s=None):
    """``table2/<dataset>/<cell>``: dataset "mnist" or "fashion"; cell a defense, or
    "frontend-semi-white" / "frontend-white" (the front end's cell is the stronger)."""
    k = f"table2/{dataset}/{cell}"
    return k if seed is None else seeded(k, seed, s)


def fc2(plan, dataset, defense, seed, **kw):
    """fc2 as Table 2 trains it: the sparse network with the chosen l1 and pruning rule."""
    if defense == "sparse":
        sparse = plan.sparse or {ds: (0.1, "global") for ds in DATASET_KEY}
        kw.setdefault("l1", sparse[dataset][0])
        kw.setdefault("rule", sparse[dataset][1])
    return plan.settings.fc2(dataset, defense, seed=seed, **kw)


def jobs(plan):
    s, out = plan.settings, []
    for seed in s.fc2_seeds:
        for ds, k in DATASET_KEY.items():
            for defense in ("none", "sparse"):
                out.append((key(k, defense, seed, s),
                             attack_spec(fc2(plan, ds, defense, seed), "ll", EPS, s.n_test, mode="semi-white")))
            for mode in ("semi-white", "white"):
                out.append((key(k, f"frontend-{mode}", seed, s),
                             attack_spec(fc2(plan, ds, "frontend", seed), "ll", EPS, s.n_test, mode=mode)))
    return out


def cells(run):
    s, out = run.settings, {}
    for seed in s.fc2_seeds:
        for k in DATASET_KEY.values():
            for cell in ("none", "sparse", "frontend-semi-white", "frontend-white"):
                r = run.results.get(key(k, cell, seed, s))
                if r is not None:
                    out[key(k, cell, seed, s)] = (100 * r["adversarial_accuracy"], r["n"])
            semi = out.get(key(k, "frontend-semi-white", seed, s))
            if semi is not None:
                out[key(k, "frontend", seed, s)] = min(semi, out.get(key(k, "frontend-white", seed, s), semi))
    return out


def report(summ, ctx):
    lines = ["", "## Table 2 — 2-layer binary network, locally linear attack (ε = 0.25)", "", HEAD_SEEDS]
    for k, label in TASKS:
        for cell in DEFENSES + ("frontend-semi-white", "frontend-white"):
            if key(k, cell) in summ:
                lines.append(row(f"{label}, {cell}", key(k, cell), summ, with_seeds=True))
    return lines


SECTION = Section("table2", jobs, cells, report=report, sparse=True, paper=PAPER)
