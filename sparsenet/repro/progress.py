"""Progress lines with elapsed time and an ETA, from a rough cost of each job."""
from __future__ import annotations

import time

import numpy as np


class Progress:
    """Elapsed time and an ETA over a planned amount of work (in arbitrary cost units)."""

    def __init__(self, total, log):
        self.total, self.done, self.log, self.start = max(total, 1e-9), 0.0, log, time.perf_counter()

    def step(self, cost, what):
        self.done += cost
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        self.log(f"[{100 * self.done / self.total:5.1f}%] {what}  (elapsed {_fmt(elapsed)}, ETA {_fmt(eta)})")


def _fmt(seconds):
    if not np.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


# Rough cost of one image through one forward+backward pass, relative to cnn4.
ARCH_COST = {"cnn4": 1.0, "fc2": 0.01, "fc10": 0.1}


def train_cost(spec):
    n = spec.n_train or 60000
    return 3 * ARCH_COST[spec.arch] * n * (spec.epochs + spec.finetune_epochs)


def attack_cost(spec):
    n = spec.n_test or 10000
    if not hasattr(spec, "setting"):    # an exact verification: a solver's run per example left
        return ARCH_COST[spec.model.arch] * n * (200 if spec.kind == "radius" else 20)
    per = {"ll": 2 * 10 if not spec.model.binary else 2, "cw": 2 * spec.setting("max_iterations", 1000)
           * spec.setting("binary_steps", 9) / 4}.get(spec.attack, 2)
    return (ARCH_COST[spec.model.arch] * n * per * spec.setting("iterations", 1)
            * (0.5 if spec.setting("stop_on_success", False) else 1))
