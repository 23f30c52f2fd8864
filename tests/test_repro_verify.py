"""The reproduction's exact-verification section (sparsenet.repro.sections.verify): what it
verifies and compares with (the adaptive section's and Table 2's runs, so the same cache
entries), its cells worked out by hand on made-up results (the exact robust accuracy, the
examples every attack missed, Theorem 2's looseness), and a run through the runner."""
import numpy as np
import pytest

from sparsenet.models import fc2
from sparsenet.repro import report, sections
from sparsenet.repro.runner import run_verify
from sparsenet.repro.sections import Run, verify
from sparsenet.repro.settings import Settings
from sparsenet.repro.specs import TrainSpec, VerifySpec

S = Settings()
SPARSE = {"mnist": (0.1, "neuron"), "fashion-mnist": (0.1, "neuron")}
CHOICE = {"mnist": (0.03, "global"), "fashion-mnist": (0.03, "global")}


def test_the_default_run_verifies_the_four_fc2_at_the_papers_eps_and_extended_adds_fc10_and_eps_01():
    default = dict(sections.jobs("verify", S, SPARSE))
    extended = dict(sections.jobs("verify", S, SPARSE, True, CHOICE))
    exact = [spec for spec in default.values() if isinstance(spec, VerifySpec) and spec.kind == "exact"]
    assert sorted((s.model.dataset, s.model.defense, s.eps) for s in exact) == \
        [("fashion-mnist", "none", 0.25), ("fashion-mnist", "sparse", 0.25), ("mnist", "none", 0.25),
         ("mnist", "sparse", 0.25)]
    assert all(s.n_test is None for s in exact)                     # every binary test image
    fc10 = [s for s in extended.values() if isinstance(s, VerifySpec) and s.model.arch == "fc10"]
    assert sorted((s.model.defense, s.eps, s.n_test) for s in fc10) == \
        [("none", 0.1, 2000), ("none", 0.25, 2000), ("sparse", 0.1, 2000), ("sparse", 0.25, 2000)]
    assert {s.eps for s in extended.values() if isinstance(s, VerifySpec) and s.kind == "exact"} == {0.1, 0.25}
    quick = dict(sections.jobs("verify", Settings(quick=True), SPARSE, True, CHOICE))
    limits = lambda jobs: {s.time_limit for s in jobs.values() if isinstance(s, VerifySpec)}   # noqa: E731
    assert limits(extended) == {verify.TIME_LIMIT} and limits(quick) == {verify.QUICK_TIME_LIMIT} and verify.QUICK_TIME_LIMIT < 60


def test_it_compares_with_the_very_runs_of_the_adaptive_section_and_table2():
    got = dict(sections.jobs("verify", S, SPARSE, True, CHOICE))
    adaptive, table2 = dict(sections.jobs("adaptive", S, SPARSE)), dict(sections.jobs("table2", S, SPARSE))
    multiclass = dict(sections.jobs("multiclass", S, SPARSE, True, CHOICE))
    assert got["verify/fc2-mnist/sparse/0.25/suite"] == adaptive["adaptive/fc2-mnist/sparse/suite"]
    assert got["verify/fc2-fashion/none/0.25/ll"] == table2["table2/fashion/none"]
    assert got["verify/fc10-mnist/sparse/0.25/suite"] == multiclass["beyond/multiclass/mnist/sparse/suite"]
    # the fast path: the suite's gradient attacks, never the verifier inside an attack
    assert got["verify/fc2-mnist/none/0.25/exact"].fast_path == ("apgd-ce/exact", "apgd-margin/exact", "apgd-units/exact")


def fake(correct, clean=None):
    correct = np.asarray(correct, bool)
    clean = np.ones(len(correct), bool) if clean is None else np.asarray(clean, bool)
    return {"correct": correct.tolist(), "clean": clean.tolist(), "n": len(correct),
            "robust_accuracy": float((clean & correct).mean()), "adversarial_accuracy": float(correct.mean())}


def test_cells_by_hand_and_the_examples_every_attack_missed():
    name, eps = "fc2-mnist/none", 0.25
    results = {
        verify.key(name, "exact", eps): {"status": ["robust", "broken", "broken", "unknown", "clean-wrong"],
                                         "seconds": [0.5, 0, 1.0, 120.0, 0]},
        verify.key(name, "suite", eps): fake([1, 0, 1, 1, 0], clean=[1, 1, 1, 1, 0]),
        verify.key(name, "ll", eps): fake([1, 1, 1, 0, 1], clean=[1, 1, 1, 1, 0]),
    }
    run = Run(results, {}, jobs={"verify": []})
    cells = verify.SECTION.cells(run)
    assert cells[verify.key(name, "exact", eps)] == (20.0, 5)             # example 0 proved
    assert cells[verify.key(name, "exact_upper", eps)] == (40.0, 5)       # and 3 unknown
    assert cells[verify.key(name, "unknown", eps)] == (1.0, None)
    assert cells[verify.key(name, "worst_case", eps)] == (40.0, 5)        # 0 and 2 survive both attacks
    assert cells[verify.key(name, "missed", eps)] == (1.0, None)          # 2: broken exactly
    assert cells[verify.key(name, "ll", eps)] == (60.0, 5)
    assert cells[verify.key(name, "seconds", eps)] == (121.5, None)
    summ = report.summary(cells, run)
    assert summ[verify.key(name, "missed_list", eps)]["ours"] == [2]
    text = "\n".join(verify.report(summ, report.Context(S)))
    assert "| fc2 MNIST, no defense | 0.25 | **20.00** [3.6, 62.4] | 40.00 | 60.00 | 1 (2) | 1 | 122 |" in text


def test_theorem2s_looseness_is_the_median_ratio_over_the_examples_both_found():
    name = "fc2-mnist/sparse"
    results = {verify.key(name, "radius"): {"status": ["exact", "exact", "exact", "clean-wrong", "unknown"],
                                            "radius": [0.2, 0.3, 0.4, None, None],
                                            "certified": [0.1, 0.1, 0.1, 0.0, 0.05]}}
    cells = verify.SECTION.cells(Run(results, {}))
    assert cells[verify.key(name, "looseness")] == (pytest.approx(3.0), None)
    assert cells[verify.key(name, "radius_exact")] == (pytest.approx(0.3), None)
    assert cells[verify.key(name, "radius_n")] == (3.0, None)


def test_run_verify_proves_what_it_proves_and_hands_the_attacks_images_over():
    """A small real run: an fc2 whose first layer is off on the whole ball is proved robust; a
    radius result carries Theorem 2's beside the exact one, and never the exact below it."""
    from sparsenet.models import Classifier
    net = fc2(seed=3)
    rng = np.random.default_rng(0)
    x = rng.random((6, 28, 28)).astype(np.float32) * 0.5
    clf = Classifier(net)
    y = clf.predict(x)
    spec = VerifySpec(TrainSpec("fc2", "mnist", binary=True), 0.01, 6, "exact", 30.0,
                      ("apgd-ce/exact",), 0)
    out = run_verify(clf, x, y, spec, log=None)
    assert out["n"] == 6 and set(out["status"]) <= {"robust", "broken", "unknown"}
    radius = run_verify(clf, x, y, VerifySpec(spec.model, 0.25, 6, "radius", 30.0, (), 0), log=None)
    exact = np.array([np.nan if v is None else v for v in radius["radius"]])
    ok = np.isfinite(exact)
    assert ok.any() and (np.asarray(radius["certified"])[ok] <= exact[ok] + 1e-6).all()
