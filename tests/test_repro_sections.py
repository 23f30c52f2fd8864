"""sparsenet.repro.sections: the registry of sections, every section's jobs with the paper's
settings, seeded keys, and the choice of a sparse network from the validation split only."""
import ast
from pathlib import Path

import numpy as np
import pytest

from sparsenet.models import PRUNE_RULES
from sparsenet.repro import sections
from sparsenet.repro.sections import choice, seeded, sweep
from sparsenet.repro.settings import Settings


def plan(name, s, sparse=None, extended=False, choice=None):
    return sections.jobs(name, s, sparse, extended, choice)


def test_every_section_plans_jobs_and_quick_differs_from_full():
    # every section is a default or an extended one (verify, a default section whose extended
    # part reads the multiclass study's choice, runs last)
    assert sorted(s.name for s in sections.SECTIONS) == sorted(sections.DEFAULT + sections.EXTENDED)
    for section in sections.DEFAULT + sections.EXTENDED:
        full, quick = plan(section, Settings()), plan(section, Settings(quick=True))
        assert full and quick
        # quick has fewer seeds, never other cells: its keys are among the full run's
        assert {k for k, _ in quick} <= {k for k, _ in full}
        assert {s.key() for _, s in full}.isdisjoint({s.key() for _, s in quick})
    assert len(plan("table2", Settings())) == 5 * len(plan("table2", Settings(seed=0, quick=True))) / 2
    with pytest.raises(ValueError, match="unknown section"):
        plan("table9", Settings())


def test_the_plan_uses_the_paper_settings():
    """Section 5.2 and Appendix B: eps = 0.25; Table 1's iterative attacks delta = eps/20 for 80
    iterations; Figures 5-6's iterative attacks delta = eps/10 for 10; C&W through BPDA."""
    from sparsenet.repro.settings import EPS
    assert EPS == 0.25
    table1 = dict(plan("table1", Settings()))
    for name in ("ifgsm", "mifgsm", "pgd"):
        for defense in ("none", "frontend"):
            spec = table1[f"table1/{name}/{defense}"]
            assert (spec.eps, spec.setting("delta"), spec.setting("iterations")) == (0.25, 0.25 / 20, 80), spec
    for key, spec in plan("fig5", Settings()):
        if spec.setting("iterations", 1) > 1:
            assert spec.setting("delta") == pytest.approx(spec.eps / 10) and spec.setting("iterations") == 10, key
    assert all(spec.gradient == "bpda" and spec.attack == "cw" for _, spec in plan("fig7", Settings()))
    # PGD's random start is seeded by the training seed of the network it attacks
    for seed in (0, 1, 2):
        assert dict(plan("table1", Settings(), extended=True))[seeded("table1/pgd/frontend", seed, Settings())] \
            .setting("rng") == seed


def test_every_adaptive_suite_ends_with_the_libraries_strong_square():
    """Square last, with the default suite's runs and queries, in every worst case the tables
    quote; the reduced suites (accuracy against eps, the rho and basis studies) say so in
    their keys and run it once with fewer queries."""
    from sparsenet.attacks.suite import SQUARE_RESTARTS
    for section in ("adaptive", "combined", "multiclass"):
        for key, spec in plan(section, Settings(), extended=True):
            if spec.__class__.__name__ != "AttackSpec" or spec.attack != "worst_case":
                continue
            assert spec.setting("suite")[-1] == "square", key
            if "/eps/" in key:
                assert key.endswith("/reduced") and spec.setting("restarts") == 1, key
            else:
                assert (spec.setting("restarts"), spec.setting("queries")) == (SQUARE_RESTARTS, 5000), key
    assert all(spec.eps == 0.25 for _, spec in plan("table2", Settings()))


def test_seeded_keys():
    s = Settings(seed=3)
    assert seeded("table2/mnist/none", 3, s) == "table2/mnist/none"
    assert seeded("table2/mnist/none", 5, s) == "table2/mnist/none@5"
    assert sections.unseeded("table2/mnist/none@5") == ("table2/mnist/none", "@5")
    assert sections.unseeded("table2/mnist/none") == ("table2/mnist/none", "")
    assert s.fc2_seeds == (3, 4, 5, 6, 7)
    assert s.cnn4_seeds() == (3,) and s.cnn4_seeds(extended=True) == (3, 4, 5)


# -- choosing the sparse network -------------------------------------------------------------------
def test_choose_sparse_takes_the_most_robust_setting_on_validation():
    records = {(0.01, "global"): (0.60, 0.985), (0.01, "neuron"): (0.58, 0.985),
               (0.1, "global"): (0.80, 0.962), (0.1, "neuron"): (0.81, 0.960),
               (0.3, "global"): (0.55, 0.700),        # a seed collapsed: neither robust nor accurate
               (0.3, "neuron"): (0.81, 0.930)}        # as robust as (0.1, neuron) but less accurate
    assert choice.choose_sparse(records) == (0.1, "neuron")
    records[(0.1, "neuron")] = (0.79, 0.960)
    assert choice.choose_sparse(records) == (0.3, "neuron")
    with pytest.raises(ValueError):
        choice.choose_sparse({})


def test_a_setting_at_chance_is_no_defense():
    """Ten classes: a collapsed network (clean 11%) keeps 11% under attack, more than a brittle
    real one; it is left out, unless every setting collapsed."""
    records = {(0.3, "neuron"): (0.113, 0.113), (0.1, "global"): (0.049, 0.81), (0.01, "global"): (0.03, 0.87)}
    assert choice.choose_sparse(records, classes=10) == (0.1, "global")
    assert choice.choose_sparse({(0.3, "neuron"): (0.113, 0.113)}, classes=10) == (0.3, "neuron")
    assert choice.choose_sparse({(0.3, "global"): (0.52, 0.52), (0.1, "neuron"): (0.51, 0.9)}) == (0.1, "neuron")


class FakeRunner:
    """Model metadata as the cache would hold it: validation numbers from ``val``, and
    test-set numbers that the choice must never read."""

    def __init__(self, val, test):
        self.val, self.test, self.logged = val, test, []

    def model_info(self, spec):
        robust, clean = self.val[(spec.dataset, spec.l1, spec.prune_rule)]
        return {"val_adversarial_accuracy": robust, "val_accuracy": clean,
                "test_accuracy": self.test[(spec.dataset, spec.l1, spec.prune_rule)]}

    def log(self, msg):
        self.logged.append(msg)


def test_the_choice_reads_only_the_validation_split():
    s = Settings(quick=True)
    rng = np.random.default_rng(0)
    settings = [(ds, l1, rule) for ds in ("mnist", "fashion-mnist") for l1 in sweep.L1_SWEEP
                for rule in PRUNE_RULES]
    val = {k: (0.5 + 0.01 * i, 0.96) for i, k in enumerate(settings)}
    val[("mnist", 0.1, "neuron")] = (0.99, 0.9)
    first = choice.sparse_setting(FakeRunner(val, {k: rng.random() for k in settings}), s, sweep.networks)
    again = choice.sparse_setting(FakeRunner(val, {k: rng.random() for k in settings}), s, sweep.networks)
    assert first == again                                     # other test results: the same choice
    assert first["mnist"] == (0.1, "neuron")
    moved = dict(val)
    moved[("mnist", 0.01, "global")] = (0.995, 0.9)            # other validation numbers: another choice
    assert choice.sparse_setting(FakeRunner(moved, {k: 0.5 for k in settings}), s, sweep.networks)["mnist"] == (0.01, "global")


# -- the layout's rules -----------------------------------------------------------------------------
REPRO = Path(__file__).resolve().parent.parent / "sparsenet" / "repro"


def test_no_function_of_the_reproduction_is_longer_than_60_lines():
    long = []
    for path in sorted(REPRO.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(REPRO)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_no_key_is_taken_apart_by_splitting_it():
    """A section reads its cells through the function that builds their keys, never by
    splitting a key on '/'."""
    for path in sorted(REPRO.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert 'split("/")' not in text and "split('/')" not in text, path.relative_to(REPRO)


def test_each_section_writes_cells_under_its_own_name_only():
    """A cell's key starts with the name of the section that writes it (the open questions'
    with beyond/<name>), so that no two sections write one key."""
    s = Settings(quick=True)
    for section in sections.SECTIONS:
        for key, _ in section.jobs(sections.Plan(s, extended=True)):
            assert key.startswith((f"{section.name}/", f"beyond/{section.name}/")), (section.name, key)
