"""sparsenet.repro.runner: training a network from its spec (sparse training, pruning and
fine-tuning), attacks seeded by their spec, and cached results reused unless stale."""
import dataclasses

import numpy as np
import pytest

from sparsenet import data
from sparsenet.repro.runner import Runner, train_network
from sparsenet.repro.specs import AttackSpec, TrainSpec, as_json


def test_sparse_training_prunes_the_first_layer_and_fine_tuning_keeps_it_pruned(tmp_path, monkeypatch):
    """train_network on synthetic data: l1 only on the first layer, rho of its weights non-zero
    after pruning *and* after the fine-tuning epochs, two histories joined."""
    rng = np.random.default_rng(0)
    sets = {"train": (rng.random((300, 28, 28)).astype(np.float32), rng.integers(0, 2, 300)),
            "test": (rng.random((50, 28, 28)).astype(np.float32), rng.integers(0, 2, 50))}
    ctx = Runner(cache_dir=tmp_path, log=lambda m: None)
    monkeypatch.setattr(ctx.datasets, "get", lambda name, binary, split: sets[split])
    splits, split = [], data.train_val_split
    monkeypatch.setattr(data, "train_val_split", lambda *a: splits.append(a[2:]) or split(*a))
    spec = TrainSpec("fc2", "mnist", binary=True, defense="sparse", rho=0.05, l1=0.01, l2=0.001, epochs=2,
                     finetune_epochs=2, batch_size=32, n_train=250, val_size=40, optimizer="sgd", lr=0.05, seed=3)
    net, meta = train_network(spec, ctx.datasets, ctx.log)
    assert splits == [(40, 3)]                           # the spec's validation size and seed
    first = net.weighted[0]
    assert (first.l1, first.l2) == (0.01, 0.001) and (net.weighted[1].l1, net.weighted[1].l2) == (0.0, 0.001)
    assert np.count_nonzero(first.params["W"]) == int(0.05 * 7840)
    assert meta["first_layer_nonzero"] == pytest.approx(int(0.05 * 7840) / 7840)
    assert len(meta["history"]["loss"]) == 4 and meta["spec"] == as_json(spec)
    assert 0 <= meta["test_accuracy"] <= 1


def test_pgd_is_seeded_by_the_spec():
    from sparsenet import attacks
    from sparsenet.repro.runner import run_attack
    from sparsenet.models import Classifier, fc2
    rng = np.random.default_rng(1)
    clf = Classifier(fc2(seed=0, dtype=np.float64))
    x, y = rng.random((6, 28, 28)), rng.integers(0, 2, 6)
    spec = AttackSpec(TrainSpec("fc2", "mnist", binary=True), "pgd", eps=0.1, delta=0.02, iterations=2, seed=3,
                      stop_on_success=False)
    first, _ = run_attack(clf, x, y, spec)
    np.testing.assert_array_equal(first, attacks.pgd(clf, x, y, 0.1, 0.02, 2, rng=3))
    other, _ = run_attack(clf, x, y, dataclasses.replace(spec, seed=4))
    assert np.abs(other - first).max() > 1e-3


def test_cached_results_are_reused_and_stale_ones_are_not(tmp_path, monkeypatch):
    """A second run loads every cached attack; a cache file of other settings is recomputed."""
    from sparsenet.repro import runner as experiments
    from sparsenet.repro.runner import Runner
    calls = []

    def fake_run_attack(clf, x, y, spec, log=None, **kw):
        calls.append(spec.key())
        return x, {}

    monkeypatch.setattr(experiments, "run_attack", fake_run_attack)
    monkeypatch.setattr(experiments.attacks, "evaluate", lambda *a, **k: {"robust_accuracy": 0.5})
    ctx = Runner(cache_dir=tmp_path)
    monkeypatch.setattr(ctx, "classifier", lambda spec, gradient="exact": None)
    monkeypatch.setattr(ctx.datasets, "test_set", lambda spec, n=None: (np.zeros((2, 28, 28)), np.zeros(2, int)))
    spec = AttackSpec(TrainSpec("cnn4", "mnist"), "cw", params=(("binary_steps", 2),))
    first = ctx.attack(spec)
    assert ctx.attack(spec) == first and len(calls) == 1          # tuples survive the JSON round trip
    path = ctx.attack_path(spec)
    import json
    stale = json.loads(path.read_text())
    stale["spec"]["params"] = [["binary_steps", 3]]
    path.write_text(json.dumps(stale))
    ctx.attack(spec)
    assert len(calls) == 2                                          # stale file: recomputed
