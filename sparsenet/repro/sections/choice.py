"""How a sparse network's setting (its l1 strength and pruning rule) is chosen from a sweep of
trained networks, by validation numbers only: Table 2's (the ``sweep`` section) and each open
question's own (``combined``, ``multiclass``)."""
from __future__ import annotations

import numpy as np

from ..settings import DATASET_KEY

CHANCE_MARGIN = 0.05      # RULE_TEXT: clean validation accuracy <= 1/L + this is "at chance"
RULE_TEXT = ("the l1 strength and pruning rule whose pruned networks are the most accurate on the validation "
             "split under the locally linear attack at ε = 0.25 (Table 2's own measure, taken on held-out "
             "training images), averaged over the training seeds; ties go to the higher clean validation "
             "accuracy. A setting whose networks are at chance on clean validation images (at most 5 points "
             "above 1/L for L classes) is left out: a constant answer is immune to every attack and is no "
             "classifier. The test set plays no part.")


def choose_sparse(records, classes=2):
    """The sparse network's setting, by RULE_TEXT, from validation numbers only. ``records``:
    {(l1, rule): (validation accuracy under the attack, clean validation accuracy)}, means over
    the seeds; ``classes``: L. Returns (l1, rule).

    Choosing by accuracy under attack rather than clean accuracy is what keeps the choice off
    both ends of the sweep: a weak l1 is accurate but not robust, and a too strong one can
    collapse a seed to chance, which makes it neither. With ten classes a collapsed network
    (one answer for every image) keeps about 1/L under any attack, more than a real but
    brittle one: settings at chance are left out first (all of them only if none is left)."""
    if not records:
        raise ValueError("no sparse-network settings to choose from")
    real = {k: v for k, v in records.items() if v[1] > 1 / classes + CHANCE_MARGIN} or records
    return max(real, key=lambda k: (real[k][0], real[k][1], -k[0]))


def sparse_setting(runner, s, sweep, what="sparse network", classes=2):
    """{dataset: (l1, prune rule)}: ``choose_sparse`` over ``sweep(s, dataset)`` ->
    {(l1, rule): [TrainSpec per training seed]}, whose networks are trained here or read
    from the cache."""
    choice = {}
    for ds in DATASET_KEY:
        records = {}
        for setting, specs in sweep(s, ds).items():
            infos = [runner.model_info(spec) for spec in specs]
            records[setting] = (float(np.mean([i["val_adversarial_accuracy"] for i in infos])),
                                float(np.mean([i["val_accuracy"] for i in infos])))
        choice[ds] = choose_sparse(records, classes=classes)
        runner.log(f"{what} for {ds}: l1 = {choice[ds][0]:g}, {choice[ds][1]} pruning (chosen by "
                   f"validation accuracy: {RULE_TEXT})")
    return choice
