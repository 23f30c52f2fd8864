"""How the reproduction trains its networks and how large its attacks are: ``Settings`` turns a
section's choices (architecture, defense, seed) into ``TrainSpec``s, for the full run or
``--quick`` (small subsets, every code path). What each section trains and attacks is in
``sections``; the defenses in ``defenses``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..attacks.suite import SQUARE_RESTARTS   # Square's runs in every adaptive suite, as in the library's
from .specs import TrainSpec

EPS = 0.25                       # Section 5.2: the single-step budget, images in [0, 1]
DATASET_KEY = {"mnist": "mnist", "fashion-mnist": "fashion"}
SPARSE_SELECTION_EPS = EPS       # a sparse network's setting is chosen by its validation accuracy at Table 2's eps
# C&W (Figure 7) runs on the first CW_N_TEST test images: with 6 binary-search steps of
# 1,000 iterations it is by far the costliest attack per image.
CW_N_TEST = 200
# The adaptive evaluation's sizes (sections/evaluation.py).
BUDGETS = ((100, 1), (400, 1), (100, 5))   # APGD-CE iterations x restarts: base, 4x iterations, 5 restarts
SANITY_N = 500                 # cnn4: the first images for the stand-alone attacks and budgets
EPS_SWEEP_N = 200              # cnn4: the first images for the eps sweep
FC2_EPS_SWEEP_N = 500          # fc2: the same (Square through the front end costs minutes per eps on all 2,000)
EPS_SWEEP_QUERIES = 1000       # Square's queries in the eps sweep (one run)
SQUARE_SEEDS_N = 2000          # cnn4: the first images the Square seeds study runs on (fc2: all)


@dataclass(frozen=True)
class Settings:
    """Knobs that differ between the full reproduction and ``--quick``."""
    quick: bool = False
    seed: int = 0
    level: int = 1               # wavelet level of the front end (see REPORT.md for the choice)
    rho: float = 0.03

    def cnn4(self, defense="none", level=None, seed=None, basis="cdf97", rho=None, epochs=None):
        extra = dict(n_train=3000, epochs=1, val_size=500) if self.quick else dict(epochs=epochs or 8)
        return TrainSpec("cnn4", "mnist", defense=defense, level=level or self.level, rho=rho or self.rho,
                         basis=basis, optimizer="sgd", lr=0.05, lr_decay=0.8,
                         seed=self.seed if seed is None else seed, **extra)

    def fc2(self, dataset, defense="none", l1=None, rule="global", level=None, seed=None):
        extra = dict(n_train=2000, epochs=2, val_size=400) if self.quick else dict(epochs=30, val_size=1000)
        if defense in ("sparse", "combined"):
            # Adam drives the l1-penalised weights to zero far better than SGD here; l2 = 1e-3 is
            # the penalty of the authors' released binary network. No fine-tuning after pruning.
            extra.update(l1=0.1 if l1 is None else l1, l2=1e-3, optimizer="adam", lr=1e-3, prune_rule=rule)
        else:
            extra.update(l2=1e-4, optimizer="sgd", lr=0.05)
        return TrainSpec("fc2", dataset, binary=True, defense=defense, level=level or self.level, rho=self.rho,
                         batch_size=32, lr_decay=0.95, seed=self.seed if seed is None else seed, **extra)

    def fc10(self, dataset, defense="none", l1=None, rule="global", seed=None):
        """The ten-class network of the multiclass study (``models.fc10``, 100 hidden units):
        Adam for both, so that the defense is the only difference; the sparse one is pruned to
        rho = 3% and fine-tuned for two epochs with the pruned weights held at zero."""
        extra = dict(n_train=2000, epochs=2, val_size=400) if self.quick else dict(epochs=8, val_size=5000)
        if defense == "sparse":
            extra.update(l1=3e-2 if l1 is None else l1, prune_rule=rule, finetune_epochs=1 if self.quick else 2)
        return TrainSpec("fc10", dataset, defense=defense, rho=self.rho, l2=1e-4, optimizer="adam", lr=1e-3,
                         lr_decay=0.8, batch_size=128, seed=self.seed if seed is None else seed, **extra)

    @property
    def multiclass_seeds(self):
        """Training seeds of the multiclass study (fewer than fc2's: fc10 trains for longer)."""
        return tuple(self.seed + k for k in range(2 if self.quick else 3))

    @property
    def fc2_seeds(self):
        """Training seeds of the binary experiments (each fc2 trains in seconds)."""
        return tuple(self.seed + k for k in range(2 if self.quick else 5))

    def cnn4_seeds(self, extended=False):
        return tuple(self.seed + k for k in range((2 if self.quick else 3) if extended else 1))

    @property
    def n_test(self):
        return 200 if self.quick else None

    @property
    def iterations(self):
        return 4 if self.quick else 80

    @property
    def cw(self):
        if self.quick:
            return {"n_test": 10, "settings": {"binary_steps": 3, "max_iterations": 50}}
        return {"n_test": CW_N_TEST, "settings": {"binary_steps": 6, "max_iterations": 1000}}

    @property
    def adaptive(self):
        """Sizes of the adaptive section: APGD iterations, Square's queries, APGD-T's targets,
        and the first images of cnn4's sanity checks."""
        if self.quick:
            return {"iterations": 5, "queries": 30, "square_restarts": 2, "n_targets": 2, "sanity_n": 40, "eps_n": 20,
                    "fc2_eps_n": 40, "eps_queries": 20, "seeds_n": 40, "budgets": ((5, 1), (10, 1), (5, 2))}
        return {"iterations": 100, "queries": 5000, "square_restarts": SQUARE_RESTARTS, "n_targets": 9,
                "sanity_n": SANITY_N, "eps_n": EPS_SWEEP_N, "fc2_eps_n": FC2_EPS_SWEEP_N,
                "eps_queries": EPS_SWEEP_QUERIES, "seeds_n": SQUARE_SEEDS_N, "budgets": BUDGETS}
