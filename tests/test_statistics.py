"""Error bars, seeds and the sparse network's setting (issue 12): the Wilson interval,
aggregation over training seeds, pruning per neuron, and the validation-only choice of
Table 2's sparse network."""
import math

import numpy as np
import pytest

from sparsenet.models import PRUNE_RULES
from sparsenet.repro import plan, report
from sparsenet.repro import settings as repro_settings
from sparsenet.models import prune
from sparsenet.layers import Dense
from sparsenet.stats import Z95, accuracy_interval, aggregate, wilson_interval


# -- the Wilson interval ---------------------------------------------------------------------
def test_wilson_interval_by_hand():
    z2 = Z95 ** 2
    # 0 of 10: [0, (z²/n) / (1 + z²/n)]
    lo, hi = wilson_interval(0, 10)
    assert lo == 0 and hi == pytest.approx((z2 / 10) / (1 + z2 / 10), abs=1e-12)
    assert hi == pytest.approx(0.27753, abs=1e-5)
    # 10 of 10: the mirror image
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(1 - 0.27753, abs=1e-5) and hi == pytest.approx(1.0)
    # 5 of 10: centred on 1/2, half-width z sqrt(1/40 + z²/400) / (1 + z²/10)
    lo, hi = wilson_interval(5, 10)
    half = Z95 * math.sqrt(0.025 + z2 / 400) / (1 + z2 / 10)
    assert (lo, hi) == (pytest.approx(0.5 - half, abs=1e-12), pytest.approx(0.5 + half, abs=1e-12))
    assert (lo, hi) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))
    # a large sample: close to p ± z sqrt(p(1-p)/n)
    lo, hi = wilson_interval(3372, 10000)
    assert hi - lo == pytest.approx(2 * Z95 * math.sqrt(0.3372 * 0.6628 / 10000), rel=1e-3)


def test_accuracy_interval_rounds_to_the_count():
    assert accuracy_interval(0.5, 10) == wilson_interval(5, 10)
    assert accuracy_interval(0.0, 10000) == wilson_interval(0, 10000)


@pytest.mark.parametrize("successes,n", [(-1, 10), (11, 10), (1, 0), (1, 2.5), (True, 10), (1, True)])
def test_wilson_interval_rejects_nonsense(successes, n):
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


def test_accuracy_interval_rejects_percentages():
    with pytest.raises(ValueError, match="proportion"):
        accuracy_interval(51.5, 100)


# -- seeds ---------------------------------------------------------------------------------------
def test_aggregate_over_seeds():
    agg = aggregate([1.0, 2.0, 4.0])
    assert agg == {"mean": pytest.approx(7 / 3), "std": pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2
                                                                                   + (4 - 7 / 3) ** 2) / 2)),
                   "min": 1.0, "max": 4.0, "n": 3}
    assert aggregate([5.0])["std"] == 0.0
    with pytest.raises(ValueError):
        aggregate([])
    with pytest.raises(ValueError):
        aggregate([1.0, float("nan")])


def test_summary_aggregates_a_toy_table_over_seeds():
    cells = {"table2/mnist/sparse": (80.0, 2000), "table2/mnist/sparse@1": (84.0, 2000),
             "table2/mnist/sparse@2": (76.0, 2000), "table2/mnist/none": (8.0, 2000),
             "table2/fashion/sparse": (50.0, 2000), "table2/fashion/sparse@1": (55.0, 2000)}
    summ = report.summary(cells)
    assert summ["table2/mnist/sparse"] == {"paper": 80.46, "ours": 80.0, "n": 2000}   # seed 0 under today's key
    assert summ["table2/mnist/sparse/mean"]["ours"] == pytest.approx(80.0)
    assert summ["table2/mnist/sparse/std"]["ours"] == pytest.approx(4.0)
    assert (summ["table2/mnist/sparse/min"]["ours"], summ["table2/mnist/sparse/max"]["ours"]) == (76.0, 84.0)
    assert summ["table2/mnist/sparse/seeds"]["ours"] == 3
    assert summ["table2/mnist/sparse/paper_in_seed_range"]["ours"] is True
    assert summ["table2/fashion/sparse/paper_in_seed_range"]["ours"] is False      # 66.94 above 50-55
    assert "table2/mnist/none/mean" not in summ          # one seed: no spread
    lo, hi = summ["table2/mnist/sparse/ci95"]["ours"]
    assert (lo, hi) == (pytest.approx(100 * wilson_interval(1600, 2000)[0], abs=1e-4),
                        pytest.approx(100 * wilson_interval(1600, 2000)[1], abs=1e-4))


def test_seeded_keys():
    s = repro_settings.Settings(seed=3)
    assert repro_settings.seeded("table2/mnist/none", 3, s) == "table2/mnist/none"
    assert repro_settings.seeded("table2/mnist/none", 5, s) == "table2/mnist/none@5"
    assert s.fc2_seeds == (3, 4, 5, 6, 7)
    assert s.cnn4_seeds() == (3,) and s.cnn4_seeds(extended=True) == (3, 4, 5)


# -- pruning -----------------------------------------------------------------------------------
def test_per_neuron_pruning_keeps_each_neurons_largest_weights():
    layer = Dense(784, 10, rng=0, dtype=np.float64)
    W0 = layer.params["W"].copy()
    mask = prune(layer, 0.03, "neuron")
    K = 23                                             # floor(0.03 * 784)
    W = layer.params["W"]
    assert ((W != 0).sum(axis=0) == K).all() and (mask.sum(axis=0) == K).all()
    for j in range(10):                                 # column j is neuron j's weights w_j
        kept = np.sort(np.abs(W0[:, j])[W[:, j] != 0])
        assert np.array_equal(kept, np.sort(np.abs(W0[:, j]))[-K:])
        np.testing.assert_array_equal(W[W[:, j] != 0, j], W0[W[:, j] != 0, j])   # kept values untouched


def test_global_pruning_differs_from_per_neuron_pruning():
    layer = Dense(784, 10, rng=0, dtype=np.float64)
    layer.params["W"][:, 0] *= 10                       # one neuron with much larger weights
    W0 = layer.params["W"].copy()
    prune(layer, 0.03, "global")
    counts = (layer.params["W"] != 0).sum(axis=0)
    assert counts.sum() == int(0.03 * W0.size) and counts[0] > 23   # the big neuron takes most of the budget
    with pytest.raises(ValueError, match="prune rule"):
        prune(Dense(4, 2, rng=0), 0.5, "random")


# -- choosing the sparse network -------------------------------------------------------------------
def test_choose_sparse_takes_the_most_robust_setting_on_validation():
    records = {(0.01, "global"): (0.60, 0.985), (0.01, "neuron"): (0.58, 0.985),
               (0.1, "global"): (0.80, 0.962), (0.1, "neuron"): (0.81, 0.960),
               (0.3, "global"): (0.55, 0.700),        # a seed collapsed: neither robust nor accurate
               (0.3, "neuron"): (0.81, 0.930)}        # as robust as (0.1, neuron) but less accurate
    assert plan.choose_sparse(records) == (0.1, "neuron")
    records[(0.1, "neuron")] = (0.79, 0.960)
    assert plan.choose_sparse(records) == (0.3, "neuron")
    with pytest.raises(ValueError):
        plan.choose_sparse({})


class FakeRunner:
    """Model metadata as the cache would hold it: validation numbers from ``val``, and
    test-set numbers that the choice must never read."""

    def __init__(self, val, test):
        self.val, self.test, self.logged = val, test, []

    def model_info(self, spec):
        robust, clean = self.val[(spec.dataset, spec.l1, spec.prune_rule)]
        return {"val_robust_accuracy": robust, "val_accuracy": clean,
                "test_accuracy": self.test[(spec.dataset, spec.l1, spec.prune_rule)]}

    def log(self, msg):
        self.logged.append(msg)


def test_the_choice_reads_only_the_validation_split():
    s = repro_settings.Settings(quick=True)
    rng = np.random.default_rng(0)
    settings = [(ds, l1, rule) for ds in ("mnist", "fashion-mnist") for l1 in repro_settings.L1_SWEEP
                for rule in PRUNE_RULES]
    val = {k: (0.5 + 0.01 * i, 0.96) for i, k in enumerate(settings)}
    val[("mnist", 0.1, "neuron")] = (0.99, 0.9)
    first = plan.sparse_setting(FakeRunner(val, {k: rng.random() for k in settings}), s)
    again = plan.sparse_setting(FakeRunner(val, {k: rng.random() for k in settings}), s)
    assert first == again                                     # other test results: the same choice
    assert first["mnist"] == (0.1, "neuron")
    moved = dict(val)
    moved[("mnist", 0.01, "global")] = (0.995, 0.9)            # other validation numbers: another choice
    assert plan.sparse_setting(FakeRunner(moved, {k: 0.5 for k in settings}), s)["mnist"] == (0.01, "global")
