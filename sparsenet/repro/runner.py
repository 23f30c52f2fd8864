"""Runs the reproduction's experiments: trains a ``TrainSpec``'s network and runs an
``AttackSpec``'s attack, each through the cache, and on all cores (``DataParallel``).

A spec goes down once and its result comes back: ``Runner.model(spec)`` reads the network
from the cache or calls ``train_network``; ``Runner.attack(spec)`` reads the result or
builds the classifier, takes the test images from ``Datasets`` and calls ``run_attack``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from .. import attacks, data, files, theory, verify
from ..checkpoints import load_checkpoint, save_checkpoint
from ..frontend import LEARNED, pca_basis
from ..models import Classifier, build, prune
from ..parallel import DataParallel
from ..training import accuracy, fit, set_penalty
from . import cache
from .settings import SPARSE_SELECTION_EPS
from .specs import AttackSpec, TrainSpec, VerifySpec, as_json


def _stderr(msg):
    print(msg, file=sys.stderr, flush=True)


class Datasets:
    """The datasets of one run, each split read from disk once."""

    def __init__(self, data_dir=None):
        self.data_dir = data_dir
        self._loaded = {}

    def get(self, name, binary, split):
        key = (name, binary, split)
        if key not in self._loaded:
            load = data.load_binary if binary else data.load_dataset
            self._loaded[key] = load(name, split, self.data_dir)
        return self._loaded[key]

    def check(self, name, split):
        """Read and check both files of a split now (``data.load_dataset`` keeps the arrays,
        so the run's later reads of the split cost nothing)."""
        data.load_dataset(name, split, self.data_dir)

    def train_set(self, spec: TrainSpec):
        x, y = self.get(spec.dataset, spec.binary, "train")
        return (x[:spec.n_train], y[:spec.n_train]) if spec.n_train else (x, y)

    def test_set(self, spec: TrainSpec, n=None):
        x, y = self.get(spec.dataset, spec.binary, "test")
        return x[:n], y[:n]


def train_network(spec: TrainSpec, datasets: Datasets, log=_stderr, matrix=None):
    """Train ``spec``'s network; returns (network, metadata: history, accuracies, timing).

    The front end, if any, sparsifies the training images once (it is deterministic);
    ``matrix`` is its analysis matrix when the basis is learned. The sparse defense
    (Section 4) trains with l1 on the first layer, prunes it (``models.prune``), optionally
    fine-tunes with the pruned weights held at zero, and records the validation accuracy
    under Table 2's attack, by which its setting is chosen. With the front end too
    ("combined"), that attack is the white box one through the front end, on the raw
    validation images.
    """
    raw, y = datasets.train_set(spec)
    frontend = spec.frontend(matrix=matrix)
    x = raw if frontend is None else np.concatenate([frontend(raw[i:i + 5000]) for i in range(0, len(raw), 5000)])
    n_val = min(spec.val_size, len(x) // 5)
    x_tr, y_tr, x_val, y_val = data.train_val_split(x, y, n_val, spec.seed)
    net = build(spec.arch, seed=spec.seed)
    fast = DataParallel(net)
    set_penalty(net, l2=spec.l2)
    if spec.has_sparse_layer:
        set_penalty(net, l1=spec.l1, l2=spec.l2, layers=[0])
    log(f"training {spec.name} on {len(x_tr):,} images ({spec.epochs} epochs)")
    t0 = time.perf_counter()
    common = dict(batch_size=spec.batch_size, x_val=x_val, y_val=y_val, log=log, optimizer=spec.optimizer)
    history = fit(fast, x_tr, y_tr, epochs=spec.epochs, lr=spec.lr, lr_decay=spec.lr_decay, seed=spec.seed, **common)
    extra = {}
    if spec.has_sparse_layer:
        extra["val_accuracy_unpruned"] = accuracy(fast, x_val, y_val)
        mask = prune(net.weighted[0], spec.rho, spec.prune_rule)
        if spec.finetune_epochs:
            W = net.weighted[0].params["W"]
            fine = fit(fast, x_tr, y_tr, epochs=spec.finetune_epochs, lr=spec.lr * spec.lr_decay ** spec.epochs,
                       lr_decay=spec.lr_decay, seed=spec.seed + 1,
                       after_step=lambda _: np.multiply(W, mask, out=W), **common)
            history = {k: history[k] + fine[k] for k in history}  # lists concatenate, seconds add
        # The validation split under Table 2's attack (the locally linear attack at ε = 0.25):
        # what the sparse network's setting is chosen by (plan.choose_sparse).
        if frontend is None:
            x_adv = attacks.locally_linear(fast, x_val, y_val, SPARSE_SELECTION_EPS, log=None)
            extra["val_adversarial_accuracy"] = float(np.mean(fast.predict(x_adv) == y_val))
        else:
            raw_val = data.train_val_split(raw, y, n_val, spec.seed)[2]   # the same split, before the front end
            clf = DataParallel(net, frontend)
            x_adv = attacks.locally_linear(clf, raw_val, y_val, SPARSE_SELECTION_EPS, mode="white", log=None)
            extra["val_adversarial_accuracy"] = float(np.mean(clf.predict(x_adv) == y_val))
    xt, yt = datasets.test_set(spec)
    meta = {"spec": as_json(spec), "history": history,
            "train_seconds": time.perf_counter() - t0,
            "test_accuracy": accuracy(DataParallel(net, frontend), xt, yt),
            # x_val went through the front end already, like the training images
            "val_accuracy": accuracy(fast, x_val, y_val), "n_val": int(len(x_val)), "n_test": int(len(xt)),
            "first_layer_nonzero": float(np.mean(net.weighted[0].params["W"] != 0)), **extra}
    log(f"{spec.name}: test accuracy {100 * meta['test_accuracy']:.2f}% after {meta['train_seconds']:.0f}s")
    return net, meta


class Runner:
    """The networks and attack results of one run, through the cache in ``cache_dir``."""

    def __init__(self, cache_dir, data_dir=None, log=_stderr):
        self.cache_dir, self.log = Path(cache_dir), log
        self.datasets = Datasets(data_dir)
        self._bases = {}

    # -- networks -------------------------------------------------------------------
    def model_path(self, spec: TrainSpec):
        return self.cache_dir / "models" / f"{spec.name}-{spec.key()}.npz"

    def model(self, spec: TrainSpec):
        """The trained network for ``spec``: read from the cache or trained now.

        A corrupt cached file is moved aside (one log line) and the network trained again;
        two runs sharing the cache train it once (see ``cache``)."""
        path = self.model_path(spec)

        def load(log):
            got = cache.read_checkpoint(path, spec.arch, log)
            if got is not None and got[1].get("spec") == as_json(spec):
                return got[0]
            if got is not None and log is not None:
                log(f"cached model {path.name} was made from other settings; retraining")
            return None

        def train():
            net, meta = train_network(spec, self.datasets, self.log, matrix=self.learned_basis(spec))
            save_checkpoint(path, net, meta)
            return net

        return cache.get_or_compute(path, load, train, self.log)

    def model_info(self, spec: TrainSpec):
        """Metadata saved with the network (training history, clean accuracy...)."""
        self.model(spec)
        return load_checkpoint(self.model_path(spec), arch=spec.arch)[1]

    def classifier(self, spec: TrainSpec, gradient="exact"):
        """The trained network behind its front end (if any), on all cores."""
        return DataParallel(Classifier(self.model(spec), spec.frontend(gradient, self.learned_basis(spec))))

    def learned_basis(self, spec: TrainSpec):
        """The analysis matrix of a learned front end (None for any other): the principal
        directions (``frontend.pca_basis``) of the spec's training images, validation split
        included, test images never. Kept in the cache, so that every network and attack
        of every run uses the very same matrix."""
        if not spec.has_frontend or spec.basis != LEARNED:
            return None
        task = f"{spec.dataset}{'-binary' if spec.binary else ''}"
        path = self.cache_dir / "bases" / f"pca-{task}-{spec.n_train or 'all'}.npz"
        if path in self._bases:
            return self._bases[path]

        def load(log):
            try:
                A = files.load_npz(path)["A"]
            except FileNotFoundError:
                return None
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
                if log is not None:
                    cache.move_aside(path, f"unreadable ({type(e).__name__})", log)
                return None
            return A

        def compute():
            self.log(f"learning the front end's basis from the {task} training images ({path.name})")
            A = pca_basis(self.datasets.train_set(spec)[0])
            files.save_npz(path, A=A)
            return A

        self._bases[path] = A = cache.get_or_compute(path, load, compute, self.log)
        return A

    # -- attacks ----------------------------------------------------------------------
    def attack_path(self, spec: AttackSpec):
        return self.cache_dir / "attacks" / f"{spec.model.name}-{spec.attack}-{spec.key()}.json"

    def attack(self, spec: AttackSpec):
        """Run (or read from the cache) one attack; returns its result dict."""
        path = self.attack_path(spec)

        def load(log):
            result = cache.read_json(path, log)
            if result is None:
                return None
            missing = [k for k in RESULT_KEYS if k not in result]
            if missing:
                if log is not None:
                    cache.move_aside(path, f"no {', '.join(missing)} in it", log)
                return None
            if result.get("spec") == as_json(spec):
                return result
            if log is not None:
                log(f"cached result {path.name} was made from other settings; running the attack again")
            return None

        def run():
            clf = self.classifier(spec.model, spec.gradient)
            source = self.classifier(dataclasses.replace(spec.model, defense="none")) if needs_source(spec) else None
            x, y = self.datasets.test_set(spec.model, spec.n_test)
            t0 = time.perf_counter()
            self.log(f"running {spec.label} on {len(x):,} images")
            x_adv, extra = run_attack(clf, x, y, spec, log=self.log, source=source)
            result = attacks.evaluate(clf, x, y, x_adv, eps=spec.eps if spec.attack != "cw" else None)
            result.update(extra)
            result.update(spec=as_json(spec), key=spec.key(), label=spec.label,
                          wall_seconds=time.perf_counter() - t0)
            files.write_json(path, result)
            return json.loads(path.read_text())   # exactly what a later run reads back

        return cache.get_or_compute(path, load, run, self.log)

    # -- exact verification -------------------------------------------------------------
    def verify_path(self, spec: VerifySpec):
        return self.cache_dir / "verify" / f"{spec.model.name}-{spec.kind}-{spec.key()}.json"

    def verify(self, spec: VerifySpec):
        """Run (or read from the cache) one exact verification; returns its result dict."""
        path = self.verify_path(spec)

        def load(log):
            result = cache.read_json(path, log)
            if result is not None and result.get("spec") == as_json(spec) and "status" in result:
                return result
            if result is not None and log is not None:
                log(f"cached result {path.name} was made from other settings; verifying again")
            return None

        def run():
            clf = self.classifier(spec.model)
            x, y = self.datasets.test_set(spec.model, spec.n_test)
            t0 = time.perf_counter()
            self.log(f"running {spec.label} on {len(x):,} images")
            result = run_verify(clf, x, y, spec, log=self.log)
            result.update(spec=as_json(spec), key=spec.key(), label=spec.label,
                          wall_seconds=time.perf_counter() - t0)
            files.write_json(path, result)
            return json.loads(path.read_text())

        return cache.get_or_compute(path, load, run, self.log)

    def path(self, spec):
        """Where the result of an attack or a verification is cached."""
        return self.verify_path(spec) if isinstance(spec, VerifySpec) else self.attack_path(spec)

    def result(self, spec):
        """The result of an attack or a verification, through the cache."""
        return self.verify(spec) if isinstance(spec, VerifySpec) else self.attack(spec)


def run_verify(clf, x, y, spec: VerifySpec, log=None):
    """``verify.exact`` or ``verify.minimal_radius`` of ``spec`` on (x, y), the images of the
    ``fast_path`` attacks handed over so that what they break needs no solver; a JSON-ready dict
    (per example: status, solver seconds; for the radius, the exact and Theorem 2's radii)."""
    x_adv = None
    if spec.fast_path:
        suite = attacks.build_suite(spec.fast_path, rng=spec.seed)
        x_adv = attacks.worst_case(clf, x, y, spec.eps, suite, log=log).x_adv
    net = clf.net
    if spec.kind == "exact":
        found = verify.exact(net, x, y, spec.eps, time_limit=spec.time_limit, x_adv=x_adv, log=log)
        return {"n": found.n, "robust_accuracy": found.robust_accuracy, "robust_upper": found.robust_upper,
                "counts": {k: int(v) for k, v in found.counts.items()}, "status": [str(v) for v in found.status],
                "seconds": np.asarray(found.seconds, np.float64).tolist()}
    found = verify.minimal_radius(net, x, y, x_adv=x_adv, time_limit=spec.time_limit, log=log)
    certified = theory.certified_radius(net, x, y)
    finite = lambda values: [float(v) if np.isfinite(v) else None for v in np.asarray(values, np.float64)]  # noqa: E731
    return {"n": found.n, "robust_accuracy": float(np.mean(np.asarray(found.status) != "clean-wrong")),
            "status": [str(v) for v in found.status], "radius": finite(found.radius),
            "certified": finite(certified), "seconds": np.asarray(found.seconds, np.float64).tolist()}


# What every attack result holds (``attacks.evaluate``): a cached file without them was written
# by another version and is computed again.
RESULT_KEYS = ("robust_accuracy", "adversarial_accuracy", "clean", "correct")


def run_attack(clf, x, y, spec: AttackSpec, log=None, source=None):
    """Run an AttackSpec through the library (``attacks.make``, or ``attacks.worst_case``
    over ``attacks.build_suite``), its settings passed as keyword arguments; returns
    (x_adv, extra info). ``log`` receives progress lines of the long attacks; ``source``
    is the undefended classifier a transfer attack crafts its adversarials on
    (``needs_source(spec)``)."""
    settings = dict(spec.settings)
    if needs_source(spec):
        if source is None:
            raise ValueError("a transfer attack needs source=, the undefended network's classifier")
        settings["source"] = source
    if spec.attack == "worst_case":
        names = settings.pop("suite")
        result = attacks.worst_case(clf, x, y, spec.eps, attacks.build_suite(names, **settings), log=log)
        return result.x_adv, {"broken_by": result.broken_by.tolist(), "accuracy_after": result.accuracy_after,
                              "attack_seconds": result.seconds}
    if spec.attack not in attacks.ATTACKS:
        raise ValueError(f"unknown attack {spec.attack!r}")
    kind = attacks.ATTACKS[spec.attack]
    if spec.attack == "cw":
        found = attacks.carlini_wagner_l2_details(clf, x, y, log=log, **settings)
        return found.x_adv, {"cw_success": found.success.tolist(), "linf": found.linf.tolist(),
                             "l2": found.l2.tolist()}
    if spec.attack in ITERATIVE and not settings.get("stop_on_success", False):
        # The final iterate is the result; the same run also gives the first misclassified
        # iterates, i.e. what stop_on_success would have returned ("any iterate").
        attacks.make(spec.attack, **settings)          # the settings checked as for any attack
        delta, iterations = settings.pop("delta"), settings.pop("iterations")
        run = attacks.iterates(kind.function, clf, x, y, spec.eps, delta, iterations, log=log, **settings)
        return run.final, {"any_iterate": _any_iterate(attacks.evaluate(clf, x, y, run.first, eps=spec.eps))}
    attack = attacks.make(spec.attack + (f"/{spec.gradient}" if kind.gradient else ""), **settings)
    return attack(clf, x, y, spec.eps, log=log), {}


ITERATIVE = ("ifgsm", "pgd", "mifgsm")


def _any_iterate(result):
    return {k: v for k, v in result.items() if k != "clean"}   # the clean verdicts are the attack's own


def needs_source(spec: AttackSpec):
    """Whether the attack transfers adversarials from the undefended network."""
    names = spec.setting("suite", ())
    return spec.attack == "transfer" or any(n.startswith("transfer") for n in names)
