"""The defenses the reproduction trains and evaluates, defined once: what each one is made of
(a front end, a sparse first layer), how tables and figures name and draw it, and the attack
suite of its adaptive evaluation.

    DEFENSES["sparse"].label        # "sparse net"
    suite("binary", "frontend", "fc2")   # the attacks of fc2 behind the front end

Adding a defense is a row here, and its way of training in ``runner.train_network`` when it is
made of something new; the sections that evaluate it name it in their jobs.
"""
from __future__ import annotations

from dataclasses import dataclass

# The adaptive suites, in the order they run: the cheap strong attacks first, so the expensive
# ones see only what those left; Square last, so that what it alone breaks is known (the Square
# seeds study reads it). Behind a front end every way of crossing it is tried, and transfer
# from the undefended network. "multiclass": networks of >= 4 classes; "binary": one logit.
PLAIN = {"multiclass": ("apgd-ce/exact", "apgd-dlr/exact", "apgd-t/exact", "square"),
         "binary": ("apgd-ce/exact", "apgd-margin/exact", "square")}
BEHIND_FRONTEND = {
    "multiclass": ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-dlr/exact", "apgd-t/exact", "apgd-ce/bpda",
                   "transfer", "square"),
    "binary": ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-margin/exact", "apgd-ce/bpda", "transfer",
               "square")}


@dataclass(frozen=True)
class Defense:
    """One defense: ``name`` (``TrainSpec.defense``), ``label`` (tables, legends),
    ``frontend`` / ``sparse`` (what it is made of), ``color`` and ``marker`` (figures), and
    ``suites``: {"multiclass" or "binary": the names of its adaptive suite}."""
    name: str
    label: str
    frontend: bool
    sparse: bool
    color: str
    marker: str
    suites: dict


DEFENSES = {d.name: d for d in (
    Defense("none", "no defense", False, False, "k", "o", PLAIN),
    Defense("frontend", "front end", True, False, "tab:blue", "^", BEHIND_FRONTEND),
    Defense("sparse", "sparse net", False, True, "tab:green", "s",
            {"multiclass": PLAIN["multiclass"],
             "binary": ("apgd-ce/exact", "apgd-margin/exact", "transfer", "square")}),
    Defense("combined", "front end + sparse", True, True, "tab:purple", "D", BEHIND_FRONTEND),
)}


# Architectures whose first layer is Dense: their suites also run APGD from the corners that
# switch each hidden unit (``attacks.apgd_units``), before Square, which stays last.
DENSE = ("fc2", "fc10")


def suite(family, defense, arch):
    """The adaptive suite of a ``family`` ("multiclass" or "binary") ``arch`` network with
    ``defense``."""
    names = DEFENSES[defense].suites[family]
    return names[:-1] + ("apgd-units/exact", names[-1]) if arch in DENSE else names


def network_label(arch, defense, dataset=None):
    """"cnn4, front end", "fc2 MNIST, sparse net": a network as tables and figures name it."""
    return f"{arch}{f' {dataset}' if dataset else ''}, {DEFENSES[defense].label}"
