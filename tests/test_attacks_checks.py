"""sparsenet.attacks.checks and the attack table: the sanity checks' rules on numbers worked out
by hand, ``diagnose`` on small networks (a masked gradient is flagged, an honest network is
not), and the settings of ``make`` and ``build_suite`` checked when a suite is built."""
import numpy as np
import pytest

from helpers import mlp, own_labels
from sparsenet import attacks
from sparsenet.attacks import checks
from sparsenet.models import Classifier

MASKING = "gradient-free (Square) does not beat the gradient attacks by more than 1 point"


# -- the rules ----------------------------------------------------------------------------------
def test_falls_to_zero_names_where_or_where_it_stalls():
    assert checks.falls_to_zero([(0.1, 50.0), (0.5, 0.0), (0.3, 4.0)]).measured == "0% at ε = 0.5"
    stalled = checks.falls_to_zero([(0.1, 50.0), (0.5, 4.0)])
    assert not stalled.holds and stalled.measured == "stalls at 4.0% (ε = 0.5)"


def test_masking_is_flagged_as_soon_as_square_wins_by_more_than_one_point():
    for square, holds in ((10.5, False), (11.0, True), (12.0, True)):
        check = checks.gradient_free_does_not_win(square, 12.0)
        assert check.name == MASKING and check.holds is holds, square
    assert "masked" in checks.gradient_free_does_not_win(5.0, 12.0).measured


def test_budget_noise_transfer_and_single_step_rules():
    assert not checks.budget_changes_little(20.8, 20.0, 15.0).holds            # 5 restarts take 5.8 points
    assert checks.budget_changes_little(20.8, 19.0, 19.5).holds
    noise = checks.noise_is_far_weaker(65.0, [12.0, 11.5, 60.0])
    assert not noise.holds and noise.measured == "noise 65.0% vs the weakest attack 60.0%"
    assert checks.noise_is_far_weaker(70.5, [12.0, 60.0]).holds
    assert checks.white_box_beats_transfer(12.0, 60.0).holds and not checks.white_box_beats_transfer(61.0, 60.0).holds
    assert checks.iterative_beats_single_step(50.0, 84.0).holds
    assert not checks.iterative_beats_single_step(85.0, 84.0).holds


# -- diagnose on a user's classifier -----------------------------------------------------------
class MaskedGradient(Classifier):
    """A network whose input gradient is hidden (zero): the textbook gradient masking."""

    def backward(self, seed):
        return np.zeros_like(super().backward(seed))


def _small(clf, x, y, **kw):
    return attacks.diagnose(clf, x, y, 0.15, iterations=10, queries=300, square_restarts=1, log=None,
                            eps_grid=(0.15, 0.5), **kw)


def test_diagnose_flags_a_masked_gradient_and_not_the_same_network_unmasked():
    net = mlp(31)
    x, y = own_labels(Classifier(net), 16)
    honest = _small(Classifier(net), x, y)
    masked = _small(MaskedGradient(net), x, y)
    assert {c.name for c in honest.checks} == {c.name for c in masked.checks}
    assert MASKING not in [c.name for c in honest.flagged]
    assert MASKING in [c.name for c in masked.flagged]
    assert masked.accuracy["Square"] < masked.accuracy["gradient attacks together"]
    assert "FLAGGED" in str(masked) and "| check | holds | measured |" in masked.table()
    assert masked.n == 16


def test_diagnose_uses_the_worst_case_it_is_given_and_the_transfer_source():
    clf = Classifier(mlp(32))
    x, y = own_labels(clf, 10)
    worst = attacks.worst_case(clf, x, y, 0.15, attacks.build_suite(["apgd-ce"], iterations=10), log=None)
    got = _small(clf, x, y, worst=worst, source=Classifier(mlp(33)))
    assert got.accuracy["worst case"] == 100 * worst.robust_accuracy
    assert "transfer" in got.accuracy and "white box beats transfer" in [c.name for c in got.checks]
    with pytest.raises(ValueError, match="worst must be the worst case of these 10 images"):
        _small(clf, x, y, worst=attacks.worst_case(clf, x[:3], y[:3], 0.15, ["noise"], log=None))


# -- attacks by name: settings checked when built --------------------------------------------------
@pytest.mark.parametrize("build,match", [
    (lambda: attacks.make("apgd-xyz"), "unknown attack 'apgd-xyz'"),
    (lambda: attacks.make("apgd-ce/sideways"), "unknown gradient 'sideways'"),
    (lambda: attacks.make("square/exact"), "square takes no gradient"),
    (lambda: attacks.make("square", querys=10), "square takes no setting 'querys'"),
    (lambda: attacks.make("apgd-ce", iterations=0), "iterations must be a positive integer, got 0"),
    (lambda: attacks.make("square", queries=0), "queries must be a positive integer, got 0"),
    (lambda: attacks.make("pgd", delta=0.1, iterations=2.5), "iterations must be a positive integer, got 2.5"),
    (lambda: attacks.make("apgd-ce", loss="dlr"), "apgd-ce takes no setting 'loss'"),
    (lambda: attacks.make("transfer"), "a transfer attack needs source="),
    (lambda: attacks.make("ll", mode="black"), "mode must be 'semi-white' or 'white'"),
    (lambda: attacks.build_suite(["apgd-ce/exact", "apgd-xyz"]), "unknown attack 'apgd-xyz'"),
    (lambda: attacks.build_suite(["apgd-ce/exact", "square"], n_targets=3), "takes the setting(s) 'n_targets'"),
    (lambda: attacks.build_suite(["apgd-ce", "apgd-ce/exact"]), "attack names must be distinct"),
])
def test_a_bad_attack_or_setting_is_refused_when_the_suite_is_built(build, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_settings_reach_the_attack_and_are_normalised():
    attack = attacks.make("pgd", delta=0.01, iterations=2.0, restarts=3, rng=4)
    assert attack.settings == {"delta": 0.01, "iterations": 2, "restarts": 3, "rng": 4}
    assert attack.name == "pgd/exact" and attack.gradient == "exact"
    suite = attacks.build_suite(["apgd-ce/bpda", "apgd-t", "square"], iterations=7, n_targets=2, queries=9, rng=1)
    assert [a.settings for a in suite] == [{"loss": "ce", "iterations": 7, "rng": 1},
                                           {"iterations": 7, "n_targets": 2, "rng": 1}, {"queries": 9, "rng": 1}]
    assert [a.gradient for a in suite] == ["bpda", "exact", None]


def test_every_attack_of_the_table_returns_images_and_worst_case_takes_names():
    """One return type: every attack returns adversarial images of x's shape and dtype."""
    clf = Classifier(mlp(34))
    x, y = own_labels(clf, 4)
    extra = {"ifgsm": dict(delta=0.05, iterations=2), "pgd": dict(delta=0.05, iterations=2),
             "mifgsm": dict(delta=0.05, iterations=2), "cw": dict(binary_steps=1, max_iterations=3),
             "transfer": dict(source=Classifier(mlp(35)), iterations=2), "square": dict(queries=5),
             "apgd-t": dict(iterations=2, n_targets=2)}
    for name in attacks.ATTACKS:
        settings = extra.get(name, {"iterations": 2} if name.startswith("apgd") else {})
        out = attacks.make(name, **settings)(clf, x, y, 0.1, log=None)
        assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == x.dtype, name
    result = attacks.worst_case(clf, x, y, 0.1, ["fgsm", "noise"], log=None)
    assert list(result.accuracy_after) == ["clean", "fgsm/exact", "noise"]
    with pytest.raises(ValueError, match="unknown attack 'squares'"):
        attacks.worst_case(clf, x, y, 0.1, ["squares"], log=None)


def test_square_restarts_run_again_on_what_earlier_runs_left():
    """restarts=2 is the first run, then a second run with new draws on the examples it
    left: never weaker, and on the examples the first run fooled the same images."""
    clf = Classifier(mlp(36))
    x, y = own_labels(clf, 24)
    one = attacks.square(clf, x, y, 0.05, queries=40, rng=3, log=None)
    two = attacks.square(clf, x, y, 0.05, queries=40, restarts=2, rng=3, log=None)
    fooled_one, fooled_two = clf.predict(one) != y, clf.predict(two) != y
    assert (fooled_two >= fooled_one).all() and fooled_two.sum() > fooled_one.sum()
    np.testing.assert_array_equal(two[fooled_one], one[fooled_one])
