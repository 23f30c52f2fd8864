"""sparsenet.stats: the Wilson interval and the accuracy interval built on it (with the count
rounded, not truncated), and aggregation over training seeds."""
import math

import pytest

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


# -- error bars -------------------------------------------------------------------------------------------
def test_accuracy_interval_rounds_the_count_not_truncates_it():
    """0.29 * 100 is 28.999999999999996 in binary: the count is 29, rounded, not truncated to 28."""
    assert 0.29 * 100 < 29
    z2 = Z95 ** 2
    p, n = 0.29, 100
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo, hi = accuracy_interval(0.29, 100)
    assert (lo, hi) == (pytest.approx(center - half, abs=1e-12), pytest.approx(center + half, abs=1e-12))
    assert accuracy_interval(0.57, 100) == wilson_interval(57, 100)      # 0.57 * 100 = 56.99999999999999
