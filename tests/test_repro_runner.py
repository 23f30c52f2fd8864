"""sparsenet.repro.runner: training a network from its spec (sparse training, pruning and
fine-tuning), attacks seeded by their spec, and cached results reused unless stale."""
import dataclasses

import numpy as np
import pytest

from sparsenet import data
from sparsenet.repro.runner import Runner, train_network
from sparsenet.repro.specs import AttackSpec, TrainSpec, as_json, attack_spec


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
    spec = attack_spec(TrainSpec("fc2", "mnist", binary=True), "pgd", 0.1, delta=0.02, iterations=2, rng=3)
    first, _ = run_attack(clf, x, y, spec)
    np.testing.assert_array_equal(first, attacks.pgd(clf, x, y, 0.1, 0.02, 2, rng=3))
    other, _ = run_attack(clf, x, y, attack_spec(spec.model, "pgd", 0.1, delta=0.02, iterations=2, rng=4))
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
    monkeypatch.setattr(experiments.attacks, "evaluate", lambda *a, **k: {
        "robust_accuracy": 0.5, "adversarial_accuracy": 0.5, "clean": [True], "correct": [True]})
    ctx = Runner(cache_dir=tmp_path)
    monkeypatch.setattr(ctx, "classifier", lambda spec, gradient="exact": None)
    monkeypatch.setattr(ctx.datasets, "test_set", lambda spec, n=None: (np.zeros((2, 28, 28)), np.zeros(2, int)))
    spec = attack_spec(TrainSpec("cnn4", "mnist"), "cw", binary_steps=2)
    first = ctx.attack(spec)
    assert ctx.attack(spec) == first and len(calls) == 1          # tuples survive the JSON round trip
    path = ctx.attack_path(spec)
    import json
    stale = json.loads(path.read_text())
    stale["spec"]["settings"] = [["binary_steps", 3]]
    path.write_text(json.dumps(stale))
    ctx.attack(spec)
    assert len(calls) == 2                                          # stale file: recomputed


def _synthetic(ctx, monkeypatch, classes, n=300):
    rng = np.random.default_rng(0)
    sets = {"train": (rng.random((n, 28, 28)).astype(np.float32), rng.integers(0, classes, n)),
            "test": (rng.random((50, 28, 28)).astype(np.float32), rng.integers(0, classes, 50))}
    monkeypatch.setattr(ctx.datasets, "get", lambda name, binary, split: sets[split])
    return sets


def test_multiclass_sparse_training_keeps_the_pruned_weights_exactly_zero(tmp_path, monkeypatch):
    """fc10 with l1 and pruning to rho, then Adam fine-tuning: every pruned weight is exactly 0
    afterwards (Adam's moments alone would move them), and the kept ones did train."""
    from sparsenet import models
    ctx = Runner(cache_dir=tmp_path, log=lambda m: None)
    _synthetic(ctx, monkeypatch, 10)
    masks, prune = [], models.prune
    monkeypatch.setattr("sparsenet.repro.runner.prune",
                        lambda layer, *a: masks.append((prune(layer, *a), layer.params["W"].copy())) or masks[-1][0])
    spec = TrainSpec("fc10", "mnist", defense="sparse", rho=0.03, l1=1e-3, epochs=1, finetune_epochs=2,
                     n_train=250, val_size=40, optimizer="adam", lr=1e-2, seed=1)
    net, meta = train_network(spec, ctx.datasets, ctx.log)
    (mask, pruned), W = masks[0], net.weighted[0].params["W"]
    assert mask.sum() == int(0.03 * W.size) and np.all(W[mask == 0] == 0)
    assert np.abs(W - pruned)[mask == 1].max() > 1e-4          # fine-tuning moved the kept weights
    assert len(meta["history"]["loss"]) == 3 and 0 <= meta["val_adversarial_accuracy"] <= 1


def test_combined_training_chooses_by_the_white_box_attack_on_raw_validation_images(tmp_path, monkeypatch):
    """The combined defense (front end + sparse): trained on sparsified images, pruned, and
    scored by the white box locally linear attack through the front end on the *raw*
    validation images (the same split as the sparsified ones)."""
    from sparsenet import attacks
    ctx = Runner(cache_dir=tmp_path, log=lambda m: None)
    sets = _synthetic(ctx, monkeypatch, 2)
    calls, ll = [], attacks.locally_linear
    monkeypatch.setattr(attacks, "locally_linear", lambda clf, x, y, eps, **kw: calls.append((clf, x, kw)) or
                        ll(clf, x, y, eps, **kw))
    spec = TrainSpec("fc2", "mnist", binary=True, defense="combined", rho=0.05, l1=0.01, epochs=1, batch_size=32,
                     n_train=250, val_size=40, seed=3)
    net, meta = train_network(spec, ctx.datasets, ctx.log)
    (clf, x, kw), = calls
    raw_val = data.train_val_split(sets["train"][0][:250], sets["train"][1][:250], 40, 3)[2]
    np.testing.assert_array_equal(x, raw_val)
    assert kw["mode"] == "white" and clf.frontend is not None
    assert np.count_nonzero(net.weighted[0].params["W"]) == int(0.05 * 7840)


def test_the_learned_basis_is_learned_once_and_kept_in_the_cache(tmp_path, monkeypatch):
    from sparsenet.frontend import pca_basis
    logs = []
    ctx = Runner(cache_dir=tmp_path, log=logs.append)
    sets = _synthetic(ctx, monkeypatch, 10)
    spec = TrainSpec("cnn4", "mnist", defense="frontend", basis="learned", n_train=100)
    with pytest.raises(ValueError, match="needs matrix="):
        spec.frontend()
    A = ctx.learned_basis(spec)
    np.testing.assert_array_equal(A, pca_basis(sets["train"][0][:100]))
    assert ctx.learned_basis(TrainSpec("cnn4", "mnist", defense="frontend")) is None
    path, = (tmp_path / "bases").iterdir()
    fresh = Runner(cache_dir=tmp_path, log=logs.append)
    monkeypatch.setattr(fresh.datasets, "get", lambda *a: pytest.fail("read the cache, not the images"))
    np.testing.assert_array_equal(fresh.learned_basis(spec), A)
    path.write_bytes(b"PK\x03\x04 damaged")                  # a damaged file is moved aside and learned again
    again = Runner(cache_dir=tmp_path, log=logs.append)
    _synthetic(again, monkeypatch, 10)
    np.testing.assert_array_equal(again.learned_basis(spec), A)
    assert any("moved" in m or "unreadable" in m for m in logs)


# -- every setting of every planned attack reaches the library function ---------------------
def _planned_attacks():
    """Every AttackSpec the reproduction plans, quick and full, the extended sections included."""
    from sparsenet.repro import sections
    from sparsenet.repro.settings import Settings
    specs = {}
    for quick in (True, False):
        s = Settings(quick=quick)
        for section in sections.DEFAULT + sections.EXTENDED:
            for key, spec in sections.jobs(section, s, extended=True):
                if isinstance(spec, AttackSpec):
                    specs[spec.key()] = (key, spec)
    return list(specs.values())


def test_every_setting_of_every_planned_attack_reaches_the_function_that_uses_it(monkeypatch):
    """Each planned attack runs through run_attack with the library's functions replaced by
    recorders: every setting of the spec arrives, with its value, at the function of the
    attack (for a worst case, at the function of some attack of its suite), and every
    attack of a suite runs. A setting dropped on the way (restarts never reaching APGD)
    fails here."""
    from sparsenet import attacks
    from sparsenet.attacks import suite as suite_module
    from sparsenet.models import Classifier, cnn4, fc2, fc10
    from sparsenet.repro.runner import run_attack
    calls = []

    def recorder(kind, function):
        def run(clf, x, y, *budget, only=None, log=None, **settings):
            calls.append((kind, settings))
            return np.array(x, copy=True)
        run.__signature__ = __import__("inspect").signature(function)
        return run
    table = {kind: dataclasses.replace(entry, function=recorder(kind, entry.function))
             for kind, entry in attacks.ATTACKS.items()}
    monkeypatch.setattr(suite_module, "ATTACKS", table)
    monkeypatch.setattr(attacks, "ATTACKS", table)
    monkeypatch.setattr(attacks, "carlini_wagner_l2_details", lambda clf, x, y, log=None, **kw: (
        calls.append(("cw", kw)) or attacks.CWDetails(np.array(x), np.zeros(len(x), bool), np.zeros(len(x)),
                                                      np.zeros(len(x)), np.zeros(len(x)))))
    monkeypatch.setattr(attacks, "iterates", lambda fn, clf, x, y, eps, delta, iterations, log=None, **kw: (
        calls.append((fn.__name__, dict(kw, delta=delta, iterations=iterations)))
        or attacks.Iterates(np.array(x), np.array(x))))
    nets = {"cnn4": Classifier(cnn4(seed=0)), "fc2": Classifier(fc2(seed=0)), "fc10": Classifier(fc10(seed=0))}
    x = np.full((2, 28, 28), 0.5, np.float32)
    planned = _planned_attacks()
    assert len(planned) > 100
    for key, spec in planned:
        calls.clear()
        clf = nets[spec.model.arch]
        run_attack(clf, x, clf.predict(x), spec, source=clf)     # correct when clean: every attack runs
        assert calls, key
        settings = dict(spec.settings)
        if spec.attack == "worst_case":
            names = settings.pop("suite")
            assert [k for k, _ in calls] == [n.partition("/")[0] for n in names], key
        for name, value in settings.items():
            arrived = [got[name] for _, got in calls if name in got]
            assert arrived and all(v == value for v in arrived), f"{key}: {name}={value!r} arrived as {arrived}"


def test_the_restarts_cell_runs_apgd_with_five_restarts():
    """The budget check's third cell runs APGD-CE with 5 restarts, each a new random start:
    on an example no start can fool (eps = 0 leaves it where it is) every restart runs in
    full, so the network sees five times the forward passes of one restart."""
    from sparsenet.models import Classifier, fc2
    from sparsenet.repro import sections
    from sparsenet.repro.runner import run_attack
    from sparsenet.repro.settings import Settings
    jobs = dict(sections.jobs("adaptive", Settings()))
    spec = jobs["adaptive/cnn4/frontend/budget/restarts"]
    assert spec.setting("restarts") == 5 and spec.setting("iterations") == 100
    clf = Classifier(fc2(seed=0))
    x = np.full((1, 28, 28), 0.5, np.float32)
    y = clf.predict(x)
    passes = []
    forward = clf.forward
    clf.forward = lambda x_: passes.append(len(x_)) or forward(x_)
    small = attack_spec(spec.model, "apgd-ce", 0.0, restarts=5, iterations=3, rng=0)
    run_attack(clf, x, y, small)
    five = len(passes)
    passes.clear()
    run_attack(clf, x, y, attack_spec(spec.model, "apgd-ce", 0.0, restarts=1, iterations=3, rng=0))
    assert five > 1 and five - 1 == 5 * (len(passes) - 1)          # the clean check once, then 5 restarts
