"""The studies of the paper's open questions (sparsenet.repro.sections.combined, multiclass,
learned_basis and what they share, open_questions): what each trains and attacks, that they
share the cache with the paper's sections, how their worst cases are counted, Theorem 2's
certified share, and their part of REPORT.md."""
import dataclasses

import numpy as np
import pytest

from sparsenet.models import PRUNE_RULES, fc10
from sparsenet.repro import report, sections
from sparsenet.repro.sections import Run, choice, combined, learned_basis, multiclass, sweep
from sparsenet.repro.sections.frontend_studies import STUDY_SUITE
from sparsenet.repro.settings import Settings
from sparsenet.repro.specs import TrainSpec

S = Settings()
CHOICE = {"mnist": (0.1, "neuron"), "fashion-mnist": (0.3, "global")}


def jobs(name, s=S, **kw):
    return dict(sections.jobs(name, s, CHOICE, extended=True, choice=kw.get("choice", CHOICE)))


def report_text(summ, name):
    ctx = report.Context(S, paper=sections.PAPER)
    return "\n".join(sections.BY_NAME[name].report(summ, ctx))


def test_combined_compares_each_defense_on_the_networks_of_table2_over_the_seeds():
    got, table2, adaptive = jobs("combined"), jobs("table2"), jobs("adaptive")
    model = got["beyond/combined/mnist/combined/clean@3"]
    assert (model.arch, model.binary, model.defense, model.l1, model.prune_rule, model.seed) == \
        ("fc2", True, "combined", 0.1, "neuron", 3)
    assert model.frontend().rho == 0.03 and model.has_sparse_layer
    for defense in ("none", "sparse", "frontend", "combined"):
        assert {f"beyond/combined/fashion/{defense}/clean{s}" for s in ("", "@1", "@2", "@3", "@4")} <= set(got)
    # the defenses alone are Table 2's networks, attacked as there and as in the adaptive section:
    # the same specs, so the same cache entries
    assert got["beyond/combined/mnist/sparse/ll-semi-white@2"] == table2["table2/mnist/sparse@2"]
    assert got["beyond/combined/mnist/frontend/ll-white"] == table2["table2/mnist/frontend-white"]
    assert got["beyond/combined/fashion/sparse/suite"] == adaptive["adaptive/fc2-fashion/sparse/suite"]
    assert got["beyond/combined/mnist/frontend/suite"] == adaptive["adaptive/fc2-mnist/frontend/suite"]
    suite = got["beyond/combined/mnist/combined/suite"].setting("suite")
    assert suite == adaptive["adaptive/fc2-mnist/frontend/suite"].setting("suite")
    assert got["beyond/combined/mnist/combined/suite"].n_test is None          # all test images
    # the run's own seed gets the whole adaptive evaluation, with both locally linear attacks against eps
    assert "beyond/combined/mnist/combined/alone/square" in got and "beyond/combined/mnist/combined/budget/restarts" in got
    assert "beyond/combined/mnist/combined/square-seed/4" in got
    paper = got["beyond/combined/mnist/combined/eps/0.4/paper-white"]
    assert (paper.attack, paper.setting("mode"), paper.eps) == ("ll", "white", 0.4)
    assert "beyond/combined/mnist/combined/alone/square@1" not in got
    # the sweep it chose from
    assert len([k for k in got if "/sweep/" in k]) == 2 * len(sweep.L1_SWEEP) * len(PRUNE_RULES) * 5


def test_multiclass_trains_fc10_without_and_with_sparsity_and_fine_tuning():
    got = jobs("multiclass")
    none, sparse = got["beyond/multiclass/mnist/none/clean"], got["beyond/multiclass/fashion/sparse/clean@2"]
    assert (none.arch, none.binary, none.defense) == ("fc10", False, "none")
    assert (sparse.defense, sparse.l1, sparse.prune_rule, sparse.rho, sparse.finetune_epochs) == \
        ("sparse", 0.3, "global", 0.03, 2)
    assert dataclasses.replace(sparse, defense="none", l1=0.0, finetune_epochs=0, prune_rule="global",
                               seed=0) == none.__class__(**{**dataclasses.asdict(none), "dataset": "fashion-mnist"})
    ll = got["beyond/multiclass/mnist/sparse/ll@1"]
    assert (ll.attack, ll.eps, ll.n_test) == ("ll", 0.25, None)
    worst = got["beyond/multiclass/mnist/none/suite@1"]
    assert worst.n_test == multiclass.WORST_N and worst.setting("suite") == (
        "apgd-ce/exact", "apgd-dlr/exact", "apgd-t/exact", "apgd-units/exact", "square")
    assert "beyond/multiclass/mnist/sparse/eps/0.5/paper" in got
    assert {k.split("@")[-1] for k in got if k.startswith("beyond/multiclass/mnist/none/clean")} == \
        {"beyond/multiclass/mnist/none/clean", "1", "2"}


def test_the_learned_basis_is_one_more_column_of_the_basis_study():
    got, basis = jobs("learned-basis"), jobs("basis")
    model = got["beyond/learned-basis/clean"]
    assert model == dataclasses.replace(basis["basis/dct/clean"], basis="learned")
    for attack in ("pgd", "worst_case"):
        ours = got["beyond/learned-basis/" + ("suite" if attack == "worst_case" else attack)]
        assert ours == dataclasses.replace(basis[f"basis/dct/{attack}"], model=model)
    assert got["beyond/learned-basis/suite"].setting("suite") == STUDY_SUITE
    assert "beyond/learned-basis/alone/square" in got and "beyond/learned-basis/eps/0.5/reduced" in got


def test_the_learned_basis_row_stands_beside_every_fixed_basis_and_names_the_best():
    values = {"beyond/learned-basis": 0.0, "basis/cdf97": 7.25, "basis/haar": 17.3, "basis/db4": 6.15,
              "basis/dct": 0.0}
    summ = {f"{b}/{cell}": {"ours": v + (90 if cell == "clean" else 0)}
            for b, v in values.items() for cell in ("clean", "pgd", "worst_case")}
    text = report_text(summ, "learned-basis")
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ") and "worst" not in line]
    assert rows == ["| learned (PCA)", "| CDF 9/7", "| Haar", "| db4", "| DCT"]
    assert "the best fixed basis, Haar, keeps 17.30%" in text


def test_the_sweeps_of_the_open_questions():
    got = combined.sweep(S, "mnist")
    assert set(got) == {(l1, r) for l1 in sweep.L1_SWEEP for r in PRUNE_RULES}
    assert all(spec.defense == "combined" and len(specs) == 5 for specs in got.values() for spec in specs)
    multi = multiclass.sweep(Settings(quick=True), "fashion-mnist")
    assert set(multi) == {(l1, r) for l1 in multiclass.L1_SWEEP for r in PRUNE_RULES}
    assert all(spec.arch == "fc10" and spec.n_train == 2000 for specs in multi.values() for spec in specs)


def test_the_open_questions_choose_their_setting_by_the_same_rule():
    class Runner:
        def __init__(self):
            self.logged = []

        def model_info(self, spec):
            best = spec.l1 == multiclass.L1_SWEEP[0] and spec.prune_rule == "neuron"
            return {"val_adversarial_accuracy": 0.9 if best else 0.5, "val_accuracy": 0.9}

        def log(self, msg):
            self.logged.append(msg)

    runner, chooser = Runner(), sections.BY_NAME["multiclass"].chooser
    got = choice.sparse_setting(runner, S, chooser.sweep, chooser.what, chooser.classes)
    assert got == {"mnist": (multiclass.L1_SWEEP[0], "neuron"), "fashion-mnist": (multiclass.L1_SWEEP[0], "neuron")}
    assert "multiclass study" in runner.logged[0]


def result(correct, **extra):
    correct = np.asarray(correct, bool)
    return {"correct": correct.tolist(), "clean": [True] * len(correct), "robust_accuracy": float(correct.mean()),
            "adversarial_accuracy": float(correct.mean()), "n": len(correct), "clean_accuracy": 1.0,
            "accuracy_after": {"clean": 1.0}, **extra}


def test_a_worst_case_counts_an_example_only_if_it_survives_the_suite_and_the_paper_attacks():
    results = {
        "beyond/combined/mnist/combined/suite@1": result([1, 1, 1, 0]),
        "beyond/combined/mnist/combined/ll-semi-white@1": result([1, 0, 1, 1]),
        "beyond/combined/mnist/combined/ll-white@1": result([1, 0, 0, 1]),
        # the paper's attack on all test images, the suite on the first ones
        "beyond/multiclass/mnist/none/suite": result([1, 1]),
        "beyond/multiclass/mnist/none/ll": result([1, 0, 0, 0]),
    }
    run = Run(results, {})
    cells = {**combined.cells(run), **multiclass.cells(run)}
    assert cells["beyond/combined/mnist/combined/worst_case@1"] == (25.0, 4)
    assert cells["beyond/combined/mnist/combined/ll@1"] == (50.0, 4)       # the stronger variant
    assert cells["beyond/multiclass/mnist/none/worst_case"] == (50.0, 2)
    assert cells["beyond/multiclass/mnist/none/ll"] == (25.0, 4)


def test_the_new_defended_networks_get_the_sanity_checks():
    base = "beyond/multiclass/mnist/sparse"
    results = {f"{base}/suite": result([1, 1, 0, 0]), f"{base}/ll": result([1, 1, 1, 0]),
               f"{base}/alone/square": result([0, 0, 0, 0]), f"{base}/alone/apgd-ce/exact": result([1, 1, 0, 0])}
    for eps, ok in ((0.25, [1, 0]), (0.5, [1, 0])):
        results[f"{base}/eps/{eps:g}/reduced"] = result(ok)
    run = Run(results, {}, jobs={"multiclass": []}, choices={"multiclass": {"mnist": (0.03, "global")}})
    run.cells = multiclass.cells(run)
    summ = report.summary(run.cells, run)
    assert summ[f"{base}/sanity/accuracy falls to 0 as ε grows"]["ours"] is False
    masking = summ[f"{base}/sanity/gradient-free (Square) does not beat the gradient attacks by more than 1 point"]
    assert masking["ours"] is False and "masked" in masking["measured"]
    single = summ[f"{base}/sanity/iterative beats single-step"]      # APGD-CE against the paper's attack
    assert single["ours"] is True and single["measured"] == "APGD-CE 50.0% vs the locally linear attack 75.0%"
    assert summ["beyond/multiclass/mnist/l1"]["ours"] == 0.03
    text = report_text(summ, "multiclass") + "\n".join(sections.open_questions_sanity(summ, None))
    assert "Network sparsity on ten classes" in text and "**no** ⚠" in text and "ℓ1 = 0.03" in text


def test_certified_share_and_median_radius_of_the_multiclass_networks(monkeypatch):
    net = fc10(seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.random((30, 28, 28))
    y = net.forward(x).argmax(axis=1)

    class Runner:
        class datasets:
            @staticmethod
            def test_set(spec, n=None):
                return x, y

        @staticmethod
        def model(spec):
            return net

    spec = TrainSpec("fc10", "mnist")
    run = Run({}, {"beyond/multiclass/mnist/none/clean@2": {"test_accuracy": 0.5, "n_test": 30}}, runner=Runner,
              settings=S, jobs={"multiclass": [("beyond/multiclass/mnist/none/clean@2", spec),
                                               ("beyond/multiclass/mnist/sweep/global/0.1/clean", spec)]})
    got = multiclass.cells(run)
    assert {k for k in got if "radius" in k or "certified" in k or "Gamma" in k} == \
        {f"beyond/multiclass/mnist/none/{k}@2" for k in ("certified", "median_radius", "Gamma")}
    from sparsenet.theory import certified_radius
    radius = certified_radius(net, x, y)
    assert got["beyond/multiclass/mnist/none/median_radius@2"] == (float(np.median(radius)), None)
    assert got["beyond/multiclass/mnist/none/certified@2"] == (100 * float(np.mean(radius >= 0.25)), 30)
    assert 0 < np.median(radius) < 0.25          # an untrained network certifies nothing at 0.25
    monkeypatch.setattr(multiclass, "CERTIFIED_EPS", float(np.sort(radius)[20]))   # 10 of the 30 reach it
    assert multiclass.cells(run)["beyond/multiclass/mnist/none/certified@2"] == (pytest.approx(100 / 3), 30)


def test_the_learned_basis_sanity_checks_read_its_own_cells():
    base = learned_basis.BASE
    results = {f"{base}/suite": result([1, 0]), f"{base}/alone/square": result([0, 0]),
               f"{base}/alone/apgd-ce/exact": result([1, 1])}
    run = Run(results, {}, jobs={"learned-basis": []})
    run.cells = learned_basis.cells(run)
    summ = report.summary(run.cells, run)
    assert summ[f"{base}/sanity/gradient-free (Square) does not beat the gradient attacks by more than 1 point"][
        "ours"] is False
