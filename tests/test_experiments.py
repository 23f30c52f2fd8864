"""Experiments as data: cache keys, the report built from a small results fixture."""
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from sparsenet import data
from sparsenet.repro import report
from sparsenet.models import prune
from sparsenet.repro.runner import Runner, train_network
from sparsenet.repro.specs import AttackSpec, TrainSpec, as_json, spec_hash
from sparsenet.layers import Dense
from sparsenet.repro.plan import plan
from sparsenet.repro.settings import PAPER, SECTIONS, Settings


def test_cache_key_changes_with_every_setting_and_only_then():
    spec = TrainSpec("cnn4", "mnist")
    assert spec.key() == TrainSpec("cnn4", "mnist").key()
    strings = {"arch": "fc2", "dataset": "fashion-mnist", "defense": "sparse", "basis": "haar",
               "optimizer": "sgd", "prune_rule": "neuron"}
    for field in dataclasses.fields(TrainSpec):
        value = getattr(spec, field.name)
        if isinstance(value, bool):
            new = not value
        elif isinstance(value, str):
            new = strings[field.name]
        elif value is None:
            new = 100
        else:
            new = value / 2 + 0.01 if isinstance(value, float) else value + 1
        assert dataclasses.replace(spec, **{field.name: new}).key() != spec.key(), field.name
    attack = AttackSpec(spec, "pgd", eps=0.25, delta=0.0125, iterations=80)
    assert attack.key() == AttackSpec(TrainSpec("cnn4", "mnist"), "pgd", 0.25, 0.0125, 80).key()
    other = {"model": dataclasses.replace(spec, seed=1), "attack": "ifgsm", "eps": 0.3, "delta": 0.01,
             "iterations": 81, "mode": "white", "gradient": "bpda", "n_test": 100, "seed": 1,
             "stop_on_success": False, "params": (("mu", 0.5),)}
    assert set(other) == {f.name for f in dataclasses.fields(AttackSpec)}
    keys = {attack.key()}
    for name, value in other.items():
        changed = dataclasses.replace(attack, **{name: value}).key()
        assert changed not in keys, name
        keys.add(changed)
    assert dataclasses.replace(attack, delta=None).key() != attack.key()


def test_cache_key_is_stable_across_processes_and_json_round_trips():
    """The key is a hash of the settings as JSON, not Python's per-process hash()."""
    import subprocess
    import sys
    spec = AttackSpec(TrainSpec("fc2", "mnist", binary=True), "cw", params=(("binary_steps", 2),))
    assert spec.key() == spec_hash(spec) and len(spec.key()) == 16
    code = ("from sparsenet.repro.specs import AttackSpec, TrainSpec; print(AttackSpec(TrainSpec("
            "'fc2', 'mnist', binary=True), 'cw', params=(('binary_steps', 2),)).key())")
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                   cwd=Path(__file__).resolve().parent.parent,
                                   env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    assert other_process == spec.key()
    assert as_json(spec)["params"] == [["binary_steps", 2]]


def test_specs_reject_bad_settings():
    with pytest.raises(ValueError, match="rho must be in"):
        TrainSpec("fc2", "mnist", rho=1.5)
    with pytest.raises(ValueError, match="rho must be in"):
        TrainSpec("fc2", "mnist", rho=0.0)
    assert TrainSpec("fc2", "mnist", rho=1.0).rho == 1.0           # the interval is (0, 1]
    with pytest.raises(ValueError, match="defense must be"):
        TrainSpec("fc2", "mnist", defense="magic")


def test_every_section_plans_jobs_and_quick_differs_from_full():
    from sparsenet.repro.settings import EXTENDED_SECTIONS
    for section in SECTIONS + EXTENDED_SECTIONS:
        full, quick = plan(section, Settings()), plan(section, Settings(quick=True))
        assert full and quick
        # quick has fewer seeds, never other cells: its keys are among the full run's
        assert {k for k, _ in quick} <= {k for k, _ in full}
        assert {s.key() for _, s in full}.isdisjoint({s.key() for _, s in quick})
    assert len(plan("table2", Settings())) == 5 * len(plan("table2", Settings(seed=0, quick=True))) / 2
    with pytest.raises(ValueError, match="unknown section"):
        plan("table9", Settings())


@pytest.mark.parametrize("rho,kept", [(0.03, 30), (0.0305, 30), (0.5, 500), (1.0, 1000), (1e-6, 1)])
def test_prune_keeps_the_largest_magnitudes_of_the_weights_before_pruning(rho, kept):
    """Compared with the weights as they were: the mask keeps floor(rho * size) of them (at
    least one), exactly those largest in magnitude, and the rest are zeroed in place."""
    layer = Dense(100, 10, rng=0, dtype=np.float64)
    W = layer.params["W"]
    W += np.sign(W) * 0.01                               # no weight is 0 before pruning
    before = W.copy()
    mask = prune(layer, rho)
    assert mask.shape == W.shape and set(np.unique(mask)) <= {0.0, 1.0}
    assert mask.sum() == kept
    order = np.argsort(-np.abs(before), axis=None)
    np.testing.assert_array_equal(np.flatnonzero(mask.ravel()), np.sort(order[:kept]))
    np.testing.assert_array_equal(W, before * mask)
    assert layer.params["W"] is W                        # in place


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


def fixture_results():
    """A tiny, made-up set of results in the shape ``Context.attack`` returns."""
    r = lambda acc: {"robust_accuracy": acc, "n": 10}
    results = {"table1/ll-semi-white/none": r(0.10), "table1/ll-semi-white/frontend": r(0.85),
               "table1/ll-white/frontend": r(0.70),
               "table1/pgd/frontend": {"robust_accuracy": 0.40, "n": 10, "any_iterate": r(0.30)},
               "table2/mnist/frontend-semi-white": r(0.9), "table2/mnist/frontend-white": r(0.8),
               "fig7/none": {"robust_accuracy": 0.0, "n": 3, "cw_success": [True, True, False],
                             "linf": [0.5, 0.1, 0.0], "l2": [1.0, 3.0, 0.0]}}
    infos = {"b2/cnn4/none": {"test_accuracy": 0.9937, "n_test": 10000}}
    return results, infos


def test_cells_take_the_stronger_locally_linear_variant_and_cw_statistics():
    cells = {k: v for k, (v, _) in report.cells(*fixture_results()).items()}
    assert cells["table1/ll/frontend"] == pytest.approx(70.0)     # min(semi-white 85, white 70)
    assert cells["table2/mnist/frontend"] == pytest.approx(80.0)
    assert cells["table1/pgd-any/frontend"] == pytest.approx(30.0)  # from the same run
    assert cells["b2/cnn4/none"] == pytest.approx(99.37)
    assert cells["fig7/none/mean_linf"] == pytest.approx(0.3)      # successful examples only
    assert cells["fig7/none/mean_l2"] == pytest.approx(2.0)
    assert cells["fig7/none/mean_l2_per_sqrt_n"] == pytest.approx(2.0 / 28)
    assert cells["fig7/none/outside_budget"] == pytest.approx(50.0)
    n = {k: n for k, (_, n) in report.cells(*fixture_results()).items()}
    assert n["table1/pgd/frontend"] == 10 and n["b2/cnn4/none"] == 10000 and n["fig7/none/mean_l2"] is None


def test_cw_outside_budget_counts_only_linf_above_eps():
    """outside_budget is the share of successful C&W adversarials with l-inf > 0.25: exactly
    0.25 is inside."""
    r = {"robust_accuracy": 0.0, "n": 4, "cw_success": [True, True, True, True], "linf": [0.25, 0.3, 0.1, 0.25],
         "l2": [1.0, 1.0, 1.0, 1.0]}
    assert report.cells({"fig7/frontend": r}, {})["fig7/frontend/outside_budget"][0] == pytest.approx(25.0)


def test_the_plan_uses_the_paper_settings():
    """Section 5.2 and Appendix B: eps = 0.25; Table 1's iterative attacks delta = eps/20 for 80
    iterations; Figures 5-6's iterative attacks delta = eps/10 for 10; C&W through BPDA."""
    from sparsenet.repro.settings import EPS
    assert EPS == 0.25
    table1 = dict(plan("table1", Settings()))
    for name in ("ifgsm", "mifgsm", "pgd"):
        for defense in ("none", "frontend"):
            spec = table1[f"table1/{name}/{defense}"]
            assert (spec.eps, spec.delta, spec.iterations) == (0.25, 0.25 / 20, 80), spec
    for key, spec in plan("fig5", Settings()):
        if spec.iterations > 1:
            assert spec.delta == pytest.approx(spec.eps / 10) and spec.iterations == 10, key
    assert all(spec.gradient == "bpda" and spec.attack == "cw" for _, spec in plan("fig7", Settings()))
    assert all(spec.eps == 0.25 for _, spec in plan("table2", Settings()))


def test_summary_and_report_pair_every_cell_with_the_paper():
    summ = report.summary(report.cells(*fixture_results()))
    assert summ["table1/pgd/frontend"] == {"paper": PAPER["table1/pgd/frontend"], "ours": 40.0, "n": 10}
    assert summ["table1/pgd/frontend/ci95"]["ours"] == [16.818, 68.7326]    # Wilson, 4 of 10
    assert summ["fig7/none/mean_l2_per_sqrt_n"]["paper"] == 0.076 and summ["fig7/none/mean_l2"]["paper"] is None
    text = report.markdown(summ, {"seed": 0}, {"wall_seconds": 5, "peak_mb": 900, "compute_seconds": 120},
                           [("Figure 5", "figures/fig5.png")])
    assert "| PGD, front end | 49.95 | 40.00 [16.8, 68.7] | -9.95 ⚠ |" in text
    assert "`table1/pgd/frontend` (paper 49.95, ours 40.00)" in text   # > 5 points: listed
    assert "![Figure 5](figures/fig5.png)" in text and "2.0 minutes" in text    # cold-cache compute time
    assert "0.1 minutes" not in text                                            # never the re-run's wall time


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


def test_report_renders_the_theory_section():
    th = {"theorem1": {"N": [64, 16384], "share": [0.5, 1.0]},
          "theorem2": {"sparse": [{"eps": 0.1, "bound": [0.4, 2.0], "random": [0.1, 0.2], "ifgsm": [0.3, 1.0]}]},
          "certified": {"sparse": {"median": 0.07, "mean": 0.08, "certified_at": {"0.05": 0.75},
                                   "gammas": [3.0, 5.0]}},
          "flips": {"none": [{"eps": 0.25, "attack": "fgsm", "all": 0.25, "layers": {}}]}}
    text = report.markdown({}, {}, {"wall_seconds": 1, "peak_mb": 1}, [], theory=th)
    assert "N = 16,384: 100.0%" in text
    assert "| sparse | 0.1 | 2 | 2 | 0.2 | 1 | 0.50 |" in text        # measured / bound = 1.0 / 2.0
    assert "| fc2 sparse | 3, 5 | 0.0700 | 75.0% |" in text
    assert "| 0.25 | 25.00% | – | – | – |" in text
