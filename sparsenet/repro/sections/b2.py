"""Appendix B.2: clean accuracy without and with sparsification: cnn4 (and, with
``--extended``, two more training seeds) and fc2 on both binary tasks over its seeds."""
from __future__ import annotations

from ..settings import DATASET_KEY
from .base import Section, seeded
from .models import model_cells
from .table2 import fc2
from .text import HEAD_SEEDS, row

PAPER = {"b2/cnn4/none": 99.37, "b2/cnn4/frontend": 98.4, "b2/fc2-mnist/none": 99.39,
         "b2/fc2-mnist/frontend": 99.27, "b2/fc2-fashion/none": 97.2}
CNN4 = ("none", "frontend")
FC2 = ("none", "sparse", "frontend")


def key(network, defense, seed=None, s=None):
    """``b2/<network>/<defense>``: network "cnn4", "fc2-mnist" or "fc2-fashion"."""
    k = f"b2/{network}/{defense}"
    return k if seed is None else seeded(k, seed, s)


def networks(s, extended=True):
    """(network, defense, seed) of every cell, in job order."""
    out = [("cnn4", d, seed) for seed in s.cnn4_seeds(extended) for d in CNN4]
    return out + [(f"fc2-{k}", d, seed) for seed in s.fc2_seeds for k in DATASET_KEY.values() for d in FC2]


def jobs(plan):
    s, out = plan.settings, []
    datasets = {k: ds for ds, k in DATASET_KEY.items()}
    for network, defense, seed in networks(s, plan.extended):
        if network == "cnn4":
            spec = s.cnn4(defense, seed=seed)
        else:
            spec = fc2(plan, datasets[network[len("fc2-"):]], defense, seed)
        out.append((key(network, defense, seed, s), spec))
    return out


def cells(run):
    s, out = run.settings, {}
    for network, defense, seed in networks(s):
        k = key(network, defense, seed, s)
        if k in run.infos:
            out.update(model_cells(k, run.infos[k], key(network, defense), seed, s))
    return out


def report(summ, ctx):
    lines = ["", "## Appendix B.2 — clean accuracy without and with sparsification", "", HEAD_SEEDS]
    pairs = sorted({(network, defense) for network, defense, _ in networks(ctx.settings)}, key=lambda p: key(*p))
    for network, defense in pairs:
        if key(network, defense) in summ:
            lines.append(row(f"{network}/{defense}", key(network, defense), summ, with_seeds=True))
    return lines


SECTION = Section("b2", jobs, cells, report=report, sparse=True, paper=PAPER)
