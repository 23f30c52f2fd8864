"""Experiments as data: every trained model and every attack run is described by a
frozen dataclass, cached on disk under a hash of that description, and returned as a
plain dict that carries its settings (STYLE pattern 6).

    spec = TrainSpec("cnn4", "mnist", defense="frontend")
    net = ctx.model(spec)                      # trained once, then loaded from the cache
    result = ctx.attack(AttackSpec(spec, "pgd", eps=0.25, delta=0.0125, iterations=80))

``run_all.py`` is a thin loop over the sections defined in ``sections``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import attacks, cache, data, files
from .frontend import Sparsifier
from .models import Classifier, build, load_checkpoint, save_checkpoint
from .training import accuracy, fit, set_penalty


@dataclass(frozen=True)
class TrainSpec:
    """How one network is trained.

    defense: "none"; "frontend" (the network is trained on images sparsified by the
    front end ``basis``/``level``/``rho``, Section 5.1); or "sparse" (Section 4: l1 on
    the first layer's weights, then pruning so that a share ``rho`` of them stays
    non-zero, by ``prune_rule`` "global" (the largest weights of the whole layer) or
    "neuron" (the largest of each hidden neuron, which keeps Theorem 2's
    gamma = max_i ||w_i||_1 small), then ``finetune_epochs`` of the same objective with
    the pruned weights held at zero).
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

    def __post_init__(self):
        if self.defense not in ("none", "frontend", "sparse"):
            raise ValueError(f"defense must be 'none', 'frontend' or 'sparse', got {self.defense!r}")
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

    def frontend(self, gradient="exact"):
        if self.defense != "frontend":
            return None
        return Sparsifier(basis=self.basis, level=self.level, rho=self.rho, gradient=gradient)


@dataclass(frozen=True)
class AttackSpec:
    """One attack on one model over the first ``n_test`` test images.

    attack: "ll" (locally linear, ``mode`` "semi-white" or "white"), "fgsm", "ifgsm",
    "pgd", "mifgsm" or "cw". ``gradient`` is how gradients cross the front end
    ("exact" or "bpda"). Iterative attacks stop early on success when
    ``stop_on_success`` (never weaker, see ``attacks``).
    """
    model: TrainSpec
    attack: str
    eps: float = 0.0
    delta: float | None = None
    iterations: int = 1
    mode: str = "semi-white"
    gradient: str = "exact"
    n_test: int | None = None
    seed: int = 0
    stop_on_success: bool = True
    params: tuple = ()   # extra keyword arguments as sorted (name, value) pairs

    def key(self):
        return spec_hash(self)

    @property
    def label(self):
        extra = f" {self.mode}" if self.attack == "ll" else ""
        its = f" x{self.iterations}" if self.iterations > 1 else ""
        return f"{self.model.name} {self.attack}{extra}{its} eps={self.eps:g}"


def _as_json(spec):
    """The spec as it reads back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(spec)))


def spec_hash(spec):
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
ARCH_COST = {"cnn4": 1.0, "fc2": 0.01}


def train_cost(spec):
    n = spec.n_train or 60000
    return 3 * ARCH_COST[spec.arch] * n * (spec.epochs + spec.finetune_epochs)


def attack_cost(spec):
    n = spec.n_test or 10000
    per = {"ll": 2 * 10 if not spec.model.binary else 2, "cw": 2 * dict(spec.params).get("max_iterations", 1000)
           * dict(spec.params).get("binary_steps", 9) / 4}.get(spec.attack, 2)
    return ARCH_COST[spec.model.arch] * n * per * max(spec.iterations, 1) * (0.5 if spec.stop_on_success else 1)


@dataclass
class Context:
    """Data, cache and logging shared by all experiments of one run."""
    cache_dir: Path
    data_dir: str | None = None
    log: object = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))

    def __post_init__(self):
        self.cache_dir = Path(self.cache_dir)
        self._data = {}

    # -- data -----------------------------------------------------------------
    def dataset(self, name, binary, split):
        key = (name, binary, split)
        if key not in self._data:
            load = data.load_binary if binary else data.load_dataset
            self._data[key] = load(name, split, self.data_dir)
        return self._data[key]

    def test_set(self, spec: TrainSpec, n=None):
        x, y = self.dataset(spec.dataset, spec.binary, "test")
        return x[:n], y[:n]

    # -- models ---------------------------------------------------------------
    def model_path(self, spec):
        return self.cache_dir / "models" / f"{spec.name}-{spec.key()}.npz"

    def model(self, spec: TrainSpec):
        """The trained network for ``spec``: loaded from the cache or trained now.

        A corrupt cached file is moved aside (one log line) and the network trained again;
        two runs sharing the cache train it once (see ``cache``)."""
        path = self.model_path(spec)

        def load(log):
            got = cache.read_checkpoint(path, spec.arch, log)
            if got is not None and got[1].get("spec") == _as_json(spec):
                return got[0]
            if got is not None and log is not None:
                log(f"cached model {path.name} was made from other settings; retraining")
            return None

        def train():
            net, meta = self._train(spec)
            save_checkpoint(path, net, meta)
            return net

        return cache.get_or_compute(path, load, train, self.log)

    def model_info(self, spec):
        """Metadata saved with the model (training history, clean accuracy...)."""
        self.model(spec)
        return load_checkpoint(self.model_path(spec), arch=spec.arch)[1]

    def _train(self, spec):
        x, y = self.dataset(spec.dataset, spec.binary, "train")
        if spec.n_train:
            x, y = x[:spec.n_train], y[:spec.n_train]
        frontend = spec.frontend()
        if frontend is not None:
            # The front end is deterministic: sparsify the training set once.
            x = np.concatenate([frontend(x[i:i + 5000]) for i in range(0, len(x), 5000)])
        x_tr, y_tr, x_val, y_val = data.train_val_split(x, y, min(spec.val_size, len(x) // 5), spec.seed)
        arch_args = {"seed": spec.seed}
        net = build(spec.arch, **arch_args)
        set_penalty(net, l2=spec.l2)
        if spec.defense == "sparse":
            set_penalty(net, l1=spec.l1, l2=spec.l2, layers=[0])
        self.log(f"training {spec.name} on {len(x_tr):,} images ({spec.epochs} epochs)")
        t0 = time.perf_counter()
        common = dict(batch_size=spec.batch_size, x_val=x_val, y_val=y_val, log=self.log)
        common.update(optimizer=spec.optimizer)
        history = fit(net, x_tr, y_tr, epochs=spec.epochs, lr=spec.lr, lr_decay=spec.lr_decay,
                      seed=spec.seed, **common)
        extra = {}
        if spec.defense == "sparse":
            extra["val_accuracy_unpruned"] = accuracy(net, x_val, y_val)
            mask = prune(net.weighted[0], spec.rho, spec.prune_rule)
            if spec.finetune_epochs:
                W = net.weighted[0].params["W"]
                fine = fit(net, x_tr, y_tr, epochs=spec.finetune_epochs, lr=spec.lr * spec.lr_decay ** spec.epochs,
                           lr_decay=spec.lr_decay, seed=spec.seed + 1,
                           after_step=lambda _: np.multiply(W, mask, out=W), **common)
                history = {k: history[k] + fine[k] for k in history}  # lists concatenate, seconds add
        if spec.defense == "sparse":
            # The validation split under Table 2's attack (the locally linear attack at ε =
            # 0.25): what the sparse network's setting is chosen by (reproduction.choose_sparse).
            val = Classifier(net)
            x_adv = attacks.locally_linear(val, x_val, y_val, SPARSE_SELECTION_EPS)
            extra["val_robust_accuracy"] = float(np.mean(val.predict(x_adv) == y_val))
        xt, yt = self.test_set(spec)
        clf = Classifier(net, frontend)
        meta = {"spec": _as_json(spec), "history": history,
                "train_seconds": time.perf_counter() - t0,
                "test_accuracy": accuracy(clf, xt, yt),
                # x_val went through the front end already, like the training images
                "val_accuracy": accuracy(net, x_val, y_val), "n_val": int(len(x_val)), "n_test": int(len(xt)),
                "first_layer_nonzero": float(np.mean(net.weighted[0].params["W"] != 0)), **extra}
        self.log(f"{spec.name}: test accuracy {100 * meta['test_accuracy']:.2f}% "
                 f"after {meta['train_seconds']:.0f}s")
        return net, meta

    def classifier(self, spec: TrainSpec, gradient="exact"):
        return Classifier(self.model(spec), spec.frontend(gradient))

    # -- attacks --------------------------------------------------------------
    def attack_path(self, spec):
        return self.cache_dir / "attacks" / f"{spec.model.name}-{spec.attack}-{spec.key()}.json"

    def attack(self, spec: AttackSpec):
        """Run (or load from the cache) one attack; returns its result dict."""
        path = self.attack_path(spec)

        def load(log):
            result = cache.read_json(path, log)
            if result is None:
                return None
            if "robust_accuracy" not in result:
                if log is not None:
                    cache.move_aside(path, "no robust_accuracy in it", log)
                return None
            if result.get("spec") == _as_json(spec):
                return result
            if log is not None:
                log(f"cached result {path.name} was made from other settings; running the attack again")
            return None

        def run():
            clf = self.classifier(spec.model, spec.gradient)
            x, y = self.test_set(spec.model, spec.n_test)
            t0 = time.perf_counter()
            self.log(f"running {spec.label} on {len(x):,} images")
            x_adv, extra = run_attack(clf, x, y, spec, log=self.log, context=self)
            result = attacks.evaluate(clf, x, y, x_adv, eps=spec.eps if spec.attack != "cw" else None)
            result.update(extra)
            result.update(spec=_as_json(spec), key=spec.key(), label=spec.label,
                          wall_seconds=time.perf_counter() - t0)
            files.write_json(path, result)
            return json.loads(path.read_text())   # exactly what a later run reads back

        return cache.get_or_compute(path, load, run, self.log)


def run_attack(clf, x, y, spec: AttackSpec, log=None, context=None):
    """Dispatch an AttackSpec to its function in ``attacks``; returns (x_adv, extra info).
    ``log`` receives progress lines of the long attacks; ``context`` (a ``Context``)
    provides the undefended network a transfer attack crafts its adversarials on."""
    params = dict(spec.params)
    if spec.attack in ADAPTIVE:
        return _run_adaptive(clf, x, y, spec, params, log, context)
    if spec.attack == "ll":
        x_adv = attacks.locally_linear(clf, x, y, spec.eps, mode=spec.mode, iterations=spec.iterations,
                                       delta=spec.delta, **params)
        return x_adv, {}
    if spec.attack == "fgsm":
        return attacks.fgsm(clf, x, y, spec.eps, **params), {}
    iterative = {"ifgsm": attacks.iterative_fgsm, "pgd": attacks.pgd, "mifgsm": attacks.mi_fgsm}
    if spec.attack in iterative:
        if spec.attack == "pgd":
            params.setdefault("rng", spec.seed)
        if spec.stop_on_success:
            return iterative[spec.attack](clf, x, y, spec.eps, spec.delta, spec.iterations,
                                          stop_on_success=True, **params), {}
        # The final iterate is the result; the same run also gives the first misclassified
        # iterates, i.e. what stop_on_success would have returned ("any iterate").
        x_adv, x_first = iterative[spec.attack](clf, x, y, spec.eps, spec.delta, spec.iterations,
                                                with_first_success=True, **params)
        return x_adv, {"any_iterate": attacks.evaluate(clf, x, y, x_first, eps=spec.eps)}
    if spec.attack == "cw":
        x_adv, info = attacks.carlini_wagner_l2(clf, x, y, log=log, **params)
        d = (x_adv - x).reshape(len(x), -1)
        return x_adv, {"cw_success": info["success"].tolist(),
                       "linf": np.abs(d).max(axis=1).tolist(),
                       "l2": np.sqrt((d.astype(np.float64) ** 2).sum(axis=1)).tolist()}
    raise ValueError(f"unknown attack {spec.attack!r}")


# -- the adaptive evaluation (issue 10) --------------------------------------------------
ADAPTIVE = ("apgd", "apgd-t", "square", "transfer", "noise", "worst_case")


def _run_adaptive(clf, x, y, spec, params, log, context):
    """The attacks of the adaptive evaluation; ``params`` as ``AttackSpec.params`` holds them."""
    source = None
    names = params.get("suite", ())
    if spec.attack == "transfer" or any(n.startswith("transfer") for n in names):
        if context is None:
            raise ValueError("a transfer attack needs the run's Context (for the undefended network)")
        source = context.classifier(dataclasses.replace(spec.model, defense="none"))
    common = dict(iterations=spec.iterations, n_targets=params.get("n_targets", 9),
                  queries=params.get("queries", 5000), rng=spec.seed, source=source)
    if spec.attack == "worst_case":
        result = attacks.worst_case(clf, x, y, spec.eps, attacks.build_suite(names, **common), log=log)
        return result.x_adv, {"broken_by": result.broken_by.tolist(), "accuracy_after": result.accuracy_after,
                              "attack_seconds": result.seconds}
    if spec.attack == "noise":
        return attacks.random_sign(x, spec.eps, rng=spec.seed), {}
    name = {"apgd": f"apgd-{params.get('loss', 'ce')}"}.get(spec.attack, spec.attack)
    (entry,) = attacks.build_suite([name + (f"/{spec.gradient}" if name.startswith("apgd") else "")], **common)
    return entry.run(clf, x, y, spec.eps), {}


PRUNE_RULES = ("global", "neuron")
SPARSE_SELECTION_EPS = 0.25   # Table 2's budget: the sparse network is chosen by its validation accuracy there


def prune(layer, rho, rule="global"):
    """Zero all but the ``rho`` share of a Dense ``layer``'s weights largest in magnitude;
    returns the 0/1 mask. ``rule`` "global" ranks the whole layer; "neuron" keeps
    K = floor(rho n_in) weights in each neuron (each column of W: the paper's w_i), so
    every ||w_i||_1, and Theorem 2's gamma, is a sum of K terms."""
    W = layer.params["W"]
    if rule == "global":
        keep = max(1, int(np.floor(rho * W.size)))
        threshold = np.partition(np.abs(W).ravel(), W.size - keep)[W.size - keep]
        mask = (np.abs(W) >= threshold).astype(W.dtype)
    elif rule == "neuron":
        keep = max(1, int(np.floor(rho * W.shape[0] + 1e-9)))     # 3% of 784 inputs: 23 per neuron
        top = np.argpartition(np.abs(W), W.shape[0] - keep, axis=0)[W.shape[0] - keep:]
        mask = np.zeros_like(W)
        np.put_along_axis(mask, top, 1, axis=0)
    else:
        raise ValueError(f"prune rule must be one of {PRUNE_RULES}, got {rule!r}")
    W *= mask
    return mask
