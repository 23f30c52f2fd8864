"""sparsenet.attacks.suite: the worst case over a suite of attacks (never weaker than any of
them, each attack with its own gradient through the front end, which attack broke which
example, nothing an attack returns trusted), transfer and random-sign noise."""
import numpy as np
import pytest

from helpers import mlp, own_labels
from sparsenet import attacks
from sparsenet.frontend import Sparsifier
from sparsenet.models import Classifier


# -- the worst case ---------------------------------------------------------------------------
def small_suite(clf):
    return attacks.default_suite(clf, iterations=8, n_targets=2, queries=40, rng=0, batch_size=4)


@pytest.mark.parametrize("frontend", [False, True])
def test_worst_case_is_never_weaker_than_any_attack_it_contains(frontend):
    clf = Classifier(mlp(18), Sparsifier() if frontend else None)
    x, y = own_labels(clf, 14)
    eps = 0.06
    suite = small_suite(clf)
    result = attacks.worst_case(clf, x, y, eps, suite)
    assert [a.name for a in suite][-1] == "square" and len(suite) == (7 if frontend else 5)   # mlp: apgd-units too
    for attack in suite:
        alone = attack(clf, x, y, eps, log=None)
        broken_alone = clf.predict(alone) != y
        assert not (result.robust & broken_alone).any(), f"{attack.name} alone breaks an example the worst case keeps"
    # the returned adversarials are what the verdict says, re-checked here
    again = attacks.evaluate(clf, x, y, result.x_adv, eps=eps)
    np.testing.assert_array_equal(attacks.robust(again), result.robust)
    assert list(result.accuracy_after) == ["clean"] + [a.name for a in suite]
    assert np.all(np.diff(list(result.accuracy_after.values())) <= 0)


def test_each_attack_in_the_suite_gives_the_examples_it_sees_their_stand_alone_result():
    clf = Classifier(mlp(24))
    x, y = own_labels(clf, 12)
    eps = 0.05
    first = attacks.Attack("first-three", lambda c, x_, y_, e, only, log: np.where(
        (np.arange(len(x_)) < 3)[:, None, None] & only[:, None, None], np.clip(x_ + e, 0, 1), x_))
    sq = attacks.make("square", queries=30, rng=5)
    result = attacks.worst_case(clf, x, y, eps, [first, sq])
    alone = attacks.square(clf, x, y, eps, queries=30, rng=5)
    seen = result.broken_by != "first-three"          # the examples the Square Attack ran on
    by_square = result.broken_by == "square"
    np.testing.assert_array_equal(by_square[seen], (clf.predict(alone) != y)[seen])
    np.testing.assert_array_equal(result.x_adv[by_square], alone[by_square])


def test_worst_case_records_which_attack_broke_each_example():
    clf = Classifier(mlp(19))
    x, y = own_labels(clf, 10)
    y[0] = (y[0] + 1) % 10                                  # wrong when clean
    result = attacks.worst_case(clf, x, y, 0.3, small_suite(clf))
    assert result.broken_by[0] == "clean"
    assert set(result.broken_by) <= {"", "clean"} | {a.name for a in small_suite(clf)}
    assert result.robust_accuracy == float((result.broken_by == "").mean())


def test_transfer_crafts_on_the_source_and_random_sign_stays_on_the_corners():
    source, target = Classifier(mlp(20)), Classifier(mlp(21))
    x, y = own_labels(source, 6)
    adv = attacks.transfer(target, x, y, 0.1, source, iterations=4)
    np.testing.assert_array_equal(adv, attacks.pgd(source, x, y, 0.1, 0.1 / 20, 4, rng=0))
    np.testing.assert_array_equal(attacks.make("transfer", source=source, iterations=4)(target, x, y, 0.1), adv)
    half = np.full((2, 28, 28), 0.5)
    noise = attacks.random_sign(target, half, target.predict(half), 0.1, rng=0)
    np.testing.assert_allclose(np.abs(noise - 0.5), 0.1)


# -- the worst case over a suite ---------------------------------------------------------------------
def test_worst_case_gives_each_attack_its_own_gradient_through_the_front_end():
    """Each attack of the suite sees the front end with the gradient it asked for (straight-
    through, BPDA, exact), a gradient-free attack the exact one; the network is shared."""
    clf = Classifier(mlp(17), Sparsifier())
    x, y = own_labels(clf, 4)
    seen = {}

    def recorder(name):
        def run(c, x_, y_, eps, only, log):
            seen[name] = None if c.frontend is None else c.frontend.gradient
            assert c.net is clf.net
            return x_.copy()
        return run
    suite = [attacks.Attack("st", recorder("st"), gradient="straight-through"),
             attacks.Attack("bpda", recorder("bpda"), gradient="bpda"),
             attacks.Attack("exact", recorder("exact"), gradient="exact"), attacks.Attack("free", recorder("free"))]
    attacks.worst_case(clf, x, y, 0.1, suite)
    assert seen == {"st": "straight-through", "bpda": "bpda", "exact": "exact", "free": "exact"}


def test_worst_case_refuses_an_attack_that_leaves_the_budget():
    """Nothing an attack returns is trusted (an attack that leaves the ε-ball is an error, not a success)."""
    clf = Classifier(mlp(18))
    x = np.full((3, 28, 28), 0.5)
    y = clf.predict(x)
    cheat = attacks.Attack("cheat", lambda c, x_, y_, eps, only, log: np.clip(x_ + 2 * eps, 0, 1))
    with pytest.raises(ValueError, match="ℓ∞ ball"):
        attacks.worst_case(clf, x, y, 0.1, [cheat])
