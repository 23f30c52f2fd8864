"""Experiments as data: every trained network and every attack run is described by a
frozen dataclass, cached on disk under a hash of that description (``spec_hash``), and
its result carries the description (``as_json``) that made it.

    spec = TrainSpec("cnn4", "mnist", defense="frontend")
    net = runner.model(spec)                     # trained once, then read from the cache
    result = runner.attack(attack_spec(spec, "pgd", eps=0.25, delta=0.0125, iterations=80))
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from ..frontend import LEARNED, Sparsifier
from ..models import PRUNE_RULES
from .defenses import DEFENSES
# What the library's training does to a spec; raised whenever a change to it changes the
# network a spec trains (the batches, pruning's ties, H_K's ties), so that no cache hands back
# a network of the old training as one of the new.
TRAINING_VERSION = 2


@dataclass(frozen=True)
class TrainSpec:
    """How one network is trained.

    defense: "none"; "frontend" (the network is trained on images sparsified by the
    front end ``basis``/``level``/``rho``, Section 5.1); "sparse" (Section 4: l1 on
    the first layer's weights, then pruning so that a share ``rho`` of them stays
    non-zero, by ``prune_rule`` "global" (the largest weights of the whole layer) or
    "neuron" (the largest of each hidden neuron, which keeps Theorem 2's
    gamma = max_i ||w_i||_1 small), then ``finetune_epochs`` of the same objective with
    the pruned weights held at zero); or "combined" (both: the sparse network, trained
    on front-end-sparsified images). ``basis`` "learned" is the front end in the
    principal directions of the training images (``frontend.pca_basis``): the runner
    learns it from the spec's training images. ``version`` names the library's training
    (``training.fit``, ``models.prune``, the front end's tie rule): it is part of the cache
    key, so a network trained by another version is never read back as this one's.
    """
    arch: str
    dataset: str
    binary: bool = False
    defense: str = "none"
    basis: str = "cdf97"
    level: int = 1
    rho: float = 0.03
    l1: float = 0.0
    l2: float = 0.0
    epochs: int = 6
    finetune_epochs: int = 0
    prune_rule: str = "global"
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_decay: float = 0.7
    n_train: int | None = None   # use only the first n training images (quick mode)
    val_size: int = 5000
    seed: int = 0
    version: int = TRAINING_VERSION

    def __post_init__(self):
        if self.defense not in DEFENSES:
            raise ValueError(f"defense must be one of {tuple(DEFENSES)}, got {self.defense!r}")
        if not 0 < self.rho <= 1:
            raise ValueError(f"rho must be in (0, 1], got {self.rho}")
        if self.prune_rule not in PRUNE_RULES:
            raise ValueError(f"prune_rule must be one of {PRUNE_RULES}, got {self.prune_rule!r}")

    @property
    def name(self):
        task = f"{self.dataset}{'-binary' if self.binary else ''}"
        return f"{self.arch}-{task}-{self.defense}"

    def key(self):
        return spec_hash(self)

    @property
    def has_frontend(self):
        return DEFENSES[self.defense].frontend

    @property
    def has_sparse_layer(self):
        return DEFENSES[self.defense].sparse

    def frontend(self, gradient="exact", matrix=None):
        """The front end, or None without one. A learned basis needs its ``matrix``
        (``runner.Datasets.learned_basis`` learns it from the training images)."""
        if not self.has_frontend:
            return None
        if self.basis == LEARNED:
            if matrix is None:
                raise ValueError("a front end with basis='learned' needs matrix=, learned from the training images "
                                 "(runner.Datasets.learned_basis)")
            return Sparsifier.from_matrix(matrix, rho=self.rho, gradient=gradient)
        return Sparsifier(basis=self.basis, level=self.level, rho=self.rho, gradient=gradient)


@dataclass(frozen=True)
class AttackSpec:
    """One attack on one model over the first ``n_test`` test images.

    ``attack``: a name of ``attacks.ATTACKS`` ("ll", "fgsm", "ifgsm", "pgd", "mifgsm", "cw",
    "apgd-ce", "apgd-dlr", "apgd-margin", "apgd-t", "square", "transfer", "noise"), or
    "worst_case" (its ``suite`` setting names the attacks, the other settings go to
    ``attacks.build_suite``). ``gradient``: how gradients cross the front end ("exact",
    "straight-through" or "bpda"). ``settings``: the attack's keyword arguments as sorted
    (name, value) pairs (``attack_spec`` builds them), passed to the library as they are,
    so a setting the attack does not take is an error, never ignored. An iterative attack
    (ifgsm, pgd, mifgsm) without ``stop_on_success`` also reports, from the same run, the
    first misclassified iterates ("any iterate").
    """
    model: TrainSpec
    attack: str
    eps: float = 0.0
    n_test: int | None = None
    gradient: str = "exact"
    settings: tuple = ()

    def key(self):
        return spec_hash(self)

    def setting(self, name, default=None):
        return dict(self.settings).get(name, default)

    @property
    def label(self):
        mode = self.setting("mode")
        extra = f" {mode}" if mode else ""
        its = self.setting("iterations", 1)
        return f"{self.model.name} {self.attack}{extra}{f' x{its}' if its > 1 else ''} eps={self.eps:g}"


@dataclass(frozen=True)
class VerifySpec:
    """Exact verification (``sparsenet.verify``) of one network on the first ``n_test`` test
    images: ``kind`` "exact" (``verify.exact`` at ``eps``) or "radius" (``verify.minimal_radius``,
    beside Theorem 2's certified radius). The examples the attacks ``fast_path`` (names of
    ``attacks.ATTACKS``, run as a worst case with the run's ``seed``) break need no solver:
    their images are the proof. ``time_limit``: seconds per example."""
    model: TrainSpec
    eps: float = 0.25
    n_test: int | None = None
    kind: str = "exact"
    time_limit: float = 120.0
    fast_path: tuple = ()
    seed: int = 0

    def __post_init__(self):
        if self.kind not in ("exact", "radius"):
            raise ValueError(f"kind must be 'exact' or 'radius', got {self.kind!r}")

    def key(self):
        return spec_hash(self)

    @property
    def label(self):
        what = f"eps={self.eps:g}" if self.kind == "exact" else "minimal radius"
        return f"{self.model.name} verify {what}"


def attack_spec(model, attack, eps=0.0, n_test=None, gradient="exact", **settings):
    """``AttackSpec`` with its settings given as keyword arguments."""
    return AttackSpec(model, attack, eps, n_test, gradient, tuple(sorted(settings.items())))


def as_json(spec):
    """The spec as it reads back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(spec)))


def spec_hash(spec):
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
