"""The paper's Section 5 and Appendix B, and the studies beyond them, as data: the
paper's numbers to compare with, the grids and budgets of every section, and ``Settings``,
which turns a section's choices into ``TrainSpec``s (full run or ``--quick``).

Every cell is keyed like ``table1/pgd/frontend``; ``PAPER`` holds the paper's value
for each key that the paper states as a number (accuracies in %).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..attacks.suite import SQUARE_RESTARTS   # Square's runs in every adaptive suite, as in the library's
from .specs import TrainSpec

SECTIONS = ("b2", "table1", "table2", "sweep", "fig5", "fig6", "fig7", "theory", "adaptive")
# Beyond the paper's tables (``run_all.py --extended``): the level, rho and basis studies, then
# the paper's own open questions (Section 6), each under the worst case (``beyond``).
BEYOND_SECTIONS = ("combined", "multiclass", "learned-basis")
EXTENDED_SECTIONS = ("levels", "rho", "basis") + BEYOND_SECTIONS

PAPER = {
    "table1/ll/none": 8.82, "table1/ll/frontend": 79.48,
    "table1/fgsm/none": 19.42, "table1/fgsm/frontend": 84.39,
    "table1/ifgsm/none": 0.58, "table1/ifgsm/frontend": 50.48,
    "table1/mifgsm/none": 0.61, "table1/mifgsm/frontend": 47.00,
    "table1/pgd/none": 0.54, "table1/pgd/frontend": 49.95,
    "table2/mnist/none": 8.31, "table2/mnist/sparse": 80.46, "table2/mnist/frontend": 80.68,
    "table2/fashion/none": 2.83, "table2/fashion/sparse": 66.94, "table2/fashion/frontend": 62.05,
    "b2/cnn4/none": 99.37, "b2/cnn4/frontend": 98.4,
    "b2/fc2-mnist/none": 99.39, "b2/fc2-mnist/frontend": 99.27,
    "b2/fc2-fashion/none": 97.2,
    # The paper's l2 means are per pixel in scale (l2 / sqrt(N), N = 784): raw l2 would be 28x larger.
    "fig7/none/mean_linf": 0.503, "fig7/none/mean_l2_per_sqrt_n": 0.076,
    "fig7/frontend/mean_linf": 0.826, "fig7/frontend/mean_l2_per_sqrt_n": 0.196,
    "fig7/frontend/accuracy": 4.05, "fig7/frontend/outside_budget": 98.0,
}
# The adaptive section quotes, beside its worst case, the paper's cell for the same network.
PAPER_CELL = {"cnn4/none": "table1/pgd/none", "cnn4/frontend": "table1/pgd/frontend",
              "fc2-mnist/none": "table2/mnist/none", "fc2-mnist/sparse": "table2/mnist/sparse",
              "fc2-mnist/frontend": "table2/mnist/frontend", "fc2-fashion/none": "table2/fashion/none",
              "fc2-fashion/sparse": "table2/fashion/sparse", "fc2-fashion/frontend": "table2/fashion/frontend"}

EPS = 0.25                       # Section 5.2: the single-step budget, images in [0, 1]
EPS_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)   # Figures 5 and 6
DATASET_KEY = {"mnist": "mnist", "fashion-mnist": "fashion"}
# The sparse network (Section 4, Table 2): l1 on fc2's first layer, then pruning to rho = 3%
# by either rule; the table's setting is chosen from the sweep by SPARSE_RULE_TEXT.
L1_SWEEP = (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
SPARSE_RULE_TEXT = ("the l1 strength and pruning rule whose pruned networks are the most accurate on the validation "
                    "split under the locally linear attack at ε = 0.25 (Table 2's own measure, taken on held-out "
                    "training images), averaged over the training seeds; ties go to the higher clean validation "
                    "accuracy. A setting whose networks are at chance on clean validation images (at most 5 points "
                    "above 1/L for L classes) is left out: a constant answer is immune to every attack and is no "
                    "classifier. The test set plays no part.")
CHANCE_MARGIN = 0.05             # SPARSE_RULE_TEXT: clean validation accuracy <= 1/L + this is "at chance"
LEVELS = (1, 2)                  # wavelet levels compared in the "levels" section
RHO_SWEEP = (0.01, 0.02, 0.03, 0.05, 0.1)
BASIS_SWEEP = ("cdf97", "haar", "db4", "dct")
BASIS_LABEL = {"cdf97": "CDF 9/7", "haar": "Haar", "db4": "db4", "dct": "DCT"}   # as the REPORT names them
# C&W (Figure 7) runs on the first CW_N_TEST test images: with 6 binary-search steps of
# 1,000 iterations it is by far the costliest attack per image.
CW_N_TEST = 200
# The adaptive evaluation. Its suites, in the order they run: the cheap strong attacks first,
# so the expensive ones see only what those left; Square last, so that what it alone breaks
# is known (the Square seeds study reads it).
SUITES = {
    "cnn4/none": ("apgd-ce/exact", "apgd-dlr/exact", "apgd-t/exact", "square"),
    "cnn4/frontend": ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-dlr/exact", "apgd-t/exact", "apgd-ce/bpda",
                      "transfer", "square"),
    "fc2/none": ("apgd-ce/exact", "apgd-margin/exact", "square"),
    "fc2/sparse": ("apgd-ce/exact", "apgd-margin/exact", "transfer", "square"),
    "fc2/frontend": ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-margin/exact", "apgd-ce/bpda", "transfer",
                     "square"),
}
# The worst case of the rho and basis studies, a reduced suite for time: APGD-CE (exact and
# straight-through), APGD-DLR and Square with the eps sweep's queries and one run.
STUDY_SUITE = ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-dlr/exact", "square")
# The open questions. Their sparse networks are chosen by SPARSE_RULE_TEXT too: the combined one
# from Table 2's sweep; fc10's from four strengths (it trains for longer), up to where l1 collapses fc2.
COMBINED_L1_SWEEP = L1_SWEEP
MULTICLASS_L1_SWEEP = (1e-2, 3e-2, 1e-1, 3e-1)
MULTICLASS_WORST_N = 2000        # the first test images of fc10's worst case (clean and the paper's attack: all)
LEARNED_SANITY_EPS = (0.1, 0.25, 0.4, 0.5)   # cnn4 with the learned basis: accuracy against eps, a short grid
ADAPTIVE_EPS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)   # the accuracy-vs-eps sanity check
BUDGETS = ((100, 1), (400, 1), (100, 5))                      # APGD-CE iterations x restarts
BUDGET_ROLES = ("base", "iterations", "restarts")             # their keys: adaptive/<network>/budget/<role>
SANITY_N = 500                 # cnn4: the first images for the stand-alone attacks and budgets
EPS_SWEEP_N = 200              # cnn4: the first images for the eps sweep
FC2_EPS_SWEEP_N = 500          # fc2: the same (Square through the front end costs minutes per eps on all 2,000)
EPS_SWEEP_QUERIES = 1000       # Square's queries in the eps sweep (one run)
SQUARE_SEEDS = 4               # more Square runs, one seed each, on the networks behind the front end
SQUARE_SEEDS_N = 2000          # cnn4: the first images they run on (fc2: all)


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
                "sanity_n": SANITY_N, "eps_n": EPS_SWEEP_N, "fc2_eps_n": FC2_EPS_SWEEP_N, "eps_queries": EPS_SWEEP_QUERIES,
                "seeds_n": SQUARE_SEEDS_N, "budgets": BUDGETS}


def seeded(key, seed, s):
    """The cell key of a result for training seed ``seed``: the plain key for the run's own
    seed (what summary.json has always held), ``key@<seed>`` for the others."""
    return key if seed == s.seed else f"{key}@{seed}"


SPARSE_SELECTION_EPS = 0.25   # Table 2's budget: the sparse network is chosen by its validation accuracy there
