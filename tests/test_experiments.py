"""Experiments as data: cache keys, the report built from a small results fixture."""
import dataclasses

import numpy as np
import pytest

from sparsenet import report
from sparsenet.experiments import AttackSpec, TrainSpec, prune
from sparsenet.layers import Dense
from sparsenet.reproduction import PAPER, SECTIONS, Settings, plan


def test_cache_key_changes_with_every_setting_and_only_then():
    spec = TrainSpec("cnn4", "mnist")
    assert spec.key() == TrainSpec("cnn4", "mnist").key()
    strings = {"arch": "fc2", "dataset": "fashion-mnist", "defense": "sparse", "basis": "haar",
               "optimizer": "sgd"}
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
    assert dataclasses.replace(attack, eps=0.3).key() != attack.key()
    assert dataclasses.replace(attack, model=dataclasses.replace(spec, seed=1)).key() != attack.key()


def test_specs_reject_bad_settings():
    with pytest.raises(ValueError, match="rho must be in"):
        TrainSpec("fc2", "mnist", rho=1.5)
    with pytest.raises(ValueError, match="defense must be"):
        TrainSpec("fc2", "mnist", defense="magic")


def test_every_section_plans_jobs_and_quick_differs_from_full():
    for section in SECTIONS:
        full, quick = plan(section, Settings()), plan(section, Settings(quick=True))
        assert full and len(full) == len(quick)
        assert {s.key() for _, s in full}.isdisjoint({s.key() for _, s in quick})
    with pytest.raises(ValueError, match="unknown section"):
        plan("table9", Settings())


def test_prune_keeps_the_largest_share():
    layer = Dense(100, 10, rng=0, dtype=np.float64)
    mask = prune(layer, 0.03)
    W = layer.params["W"]
    assert (W != 0).sum() == 30 == mask.sum()
    assert np.abs(W[W != 0]).min() >= np.abs(W[mask == 0]).max() if (mask == 0).any() else True


def fixture_results():
    """A tiny, made-up set of results in the shape ``Context.attack`` returns."""
    r = lambda acc: {"robust_accuracy": acc}
    results = {"table1/ll-semi-white/none": r(0.10), "table1/ll-semi-white/frontend": r(0.85),
               "table1/ll-white/frontend": r(0.70),
               "table1/pgd/frontend": {"robust_accuracy": 0.40, "any_iterate": r(0.30)},
               "table2/mnist/frontend-semi-white": r(0.9), "table2/mnist/frontend-white": r(0.8),
               "fig7/none": {"robust_accuracy": 0.0, "cw_success": [True, True, False],
                             "linf": [0.5, 0.1, 0.0], "l2": [1.0, 3.0, 0.0]}}
    infos = {"b2/cnn4/none": {"test_accuracy": 0.9937}}
    return results, infos


def test_cells_take_the_stronger_locally_linear_variant_and_cw_statistics():
    cells = report.cells(*fixture_results())
    assert cells["table1/ll/frontend"] == pytest.approx(70.0)     # min(semi-white 85, white 70)
    assert cells["table2/mnist/frontend"] == pytest.approx(80.0)
    assert cells["table1/pgd-any/frontend"] == pytest.approx(30.0)  # from the same run
    assert cells["b2/cnn4/none"] == pytest.approx(99.37)
    assert cells["fig7/none/mean_linf"] == pytest.approx(0.3)      # successful examples only
    assert cells["fig7/none/mean_l2"] == pytest.approx(2.0)
    assert cells["fig7/none/mean_l2_per_sqrt_n"] == pytest.approx(2.0 / 28)
    assert cells["fig7/none/outside_budget"] == pytest.approx(50.0)


def test_summary_and_report_pair_every_cell_with_the_paper():
    summ = report.summary(report.cells(*fixture_results()))
    assert summ["table1/pgd/frontend"] == {"paper": PAPER["table1/pgd/frontend"], "ours": 40.0}
    assert summ["fig7/none/mean_l2_per_sqrt_n"]["paper"] == 0.076 and summ["fig7/none/mean_l2"]["paper"] is None
    text = report.markdown(summ, {"seed": 0}, {"wall_seconds": 120, "peak_mb": 900},
                           [("Figure 5", "figures/fig5.png")])
    assert "| PGD, front end | 49.95 | 40.00 | -9.95 ⚠ |" in text
    assert "`table1/pgd/frontend` (paper 49.95, ours 40.00)" in text   # > 5 points: listed
    assert "![Figure 5](figures/fig5.png)" in text and "2.0 minutes" in text


def test_cached_results_are_reused_and_stale_ones_are_not(tmp_path, monkeypatch):
    """A second run loads every cached attack; a cache file of other settings is recomputed."""
    from sparsenet import experiments
    from sparsenet.experiments import Context
    calls = []

    def fake_run_attack(clf, x, y, spec, log=None):
        calls.append(spec.key())
        return x, {}

    monkeypatch.setattr(experiments, "run_attack", fake_run_attack)
    monkeypatch.setattr(experiments.attacks, "evaluate", lambda *a, **k: {"robust_accuracy": 0.5})
    ctx = Context(cache_dir=tmp_path)
    monkeypatch.setattr(ctx, "classifier", lambda spec, gradient="exact": None)
    monkeypatch.setattr(ctx, "test_set", lambda spec, n=None: (np.zeros((2, 28, 28)), np.zeros(2, int)))
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
