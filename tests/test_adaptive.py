"""The adaptive evaluation (issue 10): APGD and its losses, APGD-T, the Square Attack,
transfer, the ways a gradient crosses the front end, and the worst case over a suite."""
import math
from fractions import Fraction

import numpy as np
import pytest

from sparsenet import attacks
import sparsenet.attacks.square_attack as square_module
from sparsenet.attacks.autopgd import _apgd_run, attack_loss, halve_step
from sparsenet.frontend import Sparsifier
from sparsenet.layers import Dense, Flatten, ReLU
from sparsenet.models import Classifier, Sequential, fc2

from gradcheck import numerical_grad, rel_error


def mlp(seed=0, classes=10, hidden=16):
    """A small float64 multiclass network (784 -> hidden ReLU -> classes)."""
    rng = np.random.default_rng(seed)
    net = Sequential([Flatten(), Dense(784, hidden, rng=seed, dtype=np.float64), ReLU(),
                      Dense(hidden, classes, rng=seed + 1, dtype=np.float64)], arch="mlp", dtype=np.float64)
    for layer in net.weighted:
        layer.params["b"][:] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    return net


def own_labels(clf, n=12, seed=1):
    """Images and the labels the classifier gives them: every example starts correct."""
    x = np.random.default_rng(seed).random((n, 28, 28))
    return x, clf.predict(x)


# -- APGD's step-size schedule ------------------------------------------------------------
def recurrence(n):
    p = [Fraction(0), Fraction(22, 100)]
    while p[-1] <= 1:
        p.append(p[-1] + max(p[-1] - p[-2] - Fraction(3, 100), Fraction(6, 100)))
    return sorted({math.ceil(q * n) for q in p if q <= 1})


def test_apgd_checkpoints_follow_the_published_recurrence():
    assert attacks.checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]
    for n in (10, 100, 250, 400):
        assert attacks.checkpoints(n) == recurrence(n)


def test_step_halving_fires_exactly_when_the_conditions_hold():
    window, rho = 22, 0.75                      # 0.75 * 22 = 16.5 increases
    inc = np.array([16, 17, 22, 17, 17])
    best = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    at_last = np.array([0.5, 0.5, 0.5, 1.0, 1.0])   # examples 3, 4: no improvement since the last check
    reduced = np.array([False, False, False, False, True])
    got = halve_step(inc, window, best, at_last, reduced, rho)
    # 0: too few increases (condition 1); 1, 2: enough increases and improving: keep;
    # 3: not reduced last time and no improvement (condition 2); 4: reduced last time: keep.
    np.testing.assert_array_equal(got, [True, False, False, True, False])


def test_step_halving_at_exactly_rho_of_the_window():
    # 15 increases in a 20-step window is exactly 0.75 of it: AutoAttack halves (<=).
    got = halve_step(np.array([15, 16]), 20, np.ones(2), np.zeros(2), np.ones(2, bool))
    np.testing.assert_array_equal(got, [True, False])


def test_apgd_first_two_steps_by_hand():
    """x1 = Π(x0 + 2ε sgn g0); z = Π(x1 + 2ε sgn g1); x2 = Π(x1 + 0.75 (z - x1) + 0.25 (x1 - x0)),
    on a 3-class linear model far from its decision boundaries (so nothing is fooled and the
    returned point is the highest-loss one of x0, x1, x2)."""
    rng = np.random.default_rng(21)
    net = Sequential([Flatten(), Dense(784, 3, rng=22, dtype=np.float64)], arch="linear3", dtype=np.float64)
    net.weighted[0].params["b"][:] = [8.0, 0.0, 0.0]
    clf = Classifier(net)
    x, y, eps = rng.random((3, 28, 28)), np.zeros(3, int), 0.03
    t = rng.uniform(-1, 1, x.shape)
    points, fooled, _ = _apgd_run(clf, x, y, eps, 2, "ce", 0.75, t, None)
    assert not fooled.any()

    def loss_grad(p):
        logits = clf.forward(p)
        f, seed = attack_loss("ce", logits, y)
        return f, clf.backward(seed)

    P = lambda v: np.clip(np.clip(v, x - eps, x + eps), 0, 1)
    x0 = P(x + eps * t / np.abs(t).reshape(3, -1).max(axis=1)[:, None, None])
    f0, g0 = loss_grad(x0)
    x1 = P(x0 + 2 * eps * np.sign(g0))
    f1, g1 = loss_grad(x1)
    z = P(x1 + 2 * eps * np.sign(g1))
    x2 = P(x1 + 0.75 * (z - x1) + 0.25 * (x1 - x0))
    f2, _ = loss_grad(x2)
    best = np.where((f1 > f0)[:, None, None], x1, x0)
    best = np.where((f2 > np.maximum(f0, f1))[:, None, None], x2, best)
    assert (f2 > f1).any() and not np.allclose(x2, z)      # the momentum term matters here
    np.testing.assert_allclose(points, best, rtol=0, atol=1e-12)


def test_a_halved_step_restarts_from_the_best_point(monkeypatch):
    net = mlp(23)
    net.weighted[-1].params["b"][0] += 5            # a clear winner: nothing is fooled at this ε
    clf = Classifier(net)
    x, y = own_labels(clf, 6)
    t = np.random.default_rng(0).uniform(-1, 1, x.shape)
    calls = []

    def every_other(n_increases, *args):        # halve examples 0, 2, 4 at every checkpoint
        calls.append(len(n_increases))
        return np.arange(len(n_increases)) % 2 == 0
    monkeypatch.setattr("sparsenet.attacks.autopgd.halve_step", every_other)
    trace = []
    _, fooled, _ = _apgd_run(clf, x, y, 0.03, 10, "ce", 0.75, t, None, trace)
    assert not fooled.any() and len(trace) == 10
    marks = attacks.checkpoints(10)[1:]
    assert len(calls) == len(marks)
    for k, (x_adv, x_best, step) in enumerate(trace):
        halved = np.arange(len(x)) % 2 == 0 if k + 1 in marks else np.zeros(len(x), bool)
        before = trace[k - 1][2] if k else np.full(len(x), 0.06)
        np.testing.assert_allclose(step, np.where(halved, before / 2, before))
        np.testing.assert_array_equal(x_adv[halved], x_best[halved])


def test_step_halving_counts_the_increases_of_a_loss_sequence():
    # Losses over one 10-step window: 7 increases -> halve (7 <= 7.5); 8 -> keep.
    seven = np.array([0, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4.5])
    eight = np.array([0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 6.5])
    counts = np.array([(np.diff(seven) > 0).sum(), (np.diff(eight) > 0).sum()])
    assert counts.tolist() == [7, 8]
    got = halve_step(counts, 10, np.array([5.0, 7.0]), np.array([0.0, 0.0]), np.array([True, True]))
    np.testing.assert_array_equal(got, [True, False])


def test_apgd_reaches_the_analytic_optimum_of_a_linear_classifier():
    """For y(x) = w^T x + b the cross-entropy of the true class grows with the signed
    margin pushed the wrong way, so its maximum over the ε-ball is the corner
    x - ε sgn(w) (true class 1), clipped to [0, 1]."""
    rng = np.random.default_rng(2)
    net = Sequential([Flatten(), Dense(784, 1, rng=3, dtype=np.float64)], arch="linear", dtype=np.float64)
    net.weighted[0].params["b"][:] = 20           # ε ||w||_1 is about 3: never fooled at ε = 0.1
    clf = Classifier(net)
    x = rng.random((4, 28, 28))
    y = np.ones(4, int)
    adv = attacks.apgd(clf, x, y, 0.1, iterations=20, rng=0)
    w = net.weighted[0].params["W"][:, 0].reshape(28, 28)
    np.testing.assert_allclose(adv, np.clip(x - 0.1 * np.sign(w), 0, 1), rtol=0, atol=1e-12)


# -- the DLR losses ---------------------------------------------------------------------
def test_dlr_values_by_hand():
    z = np.array([[3.0, 1.0, 2.0, 0.0], [3.0, 1.0, 2.0, 0.0]])
    loss, _ = attacks.dlr_loss(z, np.array([0, 1]))
    # y = 0: -(3 - 2) / (3 - 1) = -0.5; y = 1 (already wrong): -(1 - 3) / (3 - 1) = 1
    np.testing.assert_allclose(loss, [-0.5, 1.0], atol=1e-9)
    loss, _ = attacks.dlr_loss(z[:1], np.array([0]), target=np.array([3]))
    # -(3 - 0) / (3 - (1 + 0) / 2) = -1.2
    np.testing.assert_allclose(loss, [-1.2], atol=1e-9)


@pytest.mark.parametrize("targeted", [False, True])
def test_dlr_is_invariant_to_shifting_and_scaling_the_logits(targeted):
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((20, 10)), rng.integers(0, 10, 20)
    t = (y + 1 + rng.integers(0, 9, 20)) % 10 if targeted else None
    base, _ = attacks.dlr_loss(z, y, t)
    for a, b in ((2.5, 0.0), (1.0, -7.0), (0.3, 4.0)):
        np.testing.assert_allclose(attacks.dlr_loss(a * z + b, y, t)[0], base, rtol=1e-9)


@pytest.mark.parametrize("name", ["ce", "dlr", "dlr-targeted", "margin"])
def test_attack_losses_have_the_right_logit_gradients(name):
    rng = np.random.default_rng(4)
    z, y = rng.standard_normal((5, 10)), rng.integers(0, 10, 5)
    t = (y + 3) % 10
    _, grad = attack_loss(name, z, y, t)
    f = lambda: float(attack_loss(name, z, y, t)[0].sum())
    idx = np.arange(z.size)
    assert rel_error(grad.ravel(), numerical_grad(f, z, idx)) < 1e-6


@pytest.mark.parametrize("name", ["ce", "margin"])
def test_one_logit_losses_have_the_right_gradients(name):
    rng = np.random.default_rng(5)
    z, y = rng.standard_normal((6, 1)), np.array([0, 1, 0, 1, 1, 0])
    _, grad = attack_loss(name, z, y)
    f = lambda: float(attack_loss(name, z, y)[0].sum())
    assert rel_error(grad.ravel(), numerical_grad(f, z, np.arange(z.size))) < 1e-6


def test_dlr_needs_enough_classes():
    with pytest.raises(ValueError, match="needs at least 3 logits"):
        attacks.dlr_loss(np.zeros((2, 2)), np.array([0, 1]))
    clf = Classifier(fc2(dtype=np.float64))
    x, y = own_labels(clf)
    with pytest.raises(ValueError, match="use loss='ce' or 'margin'"):
        attacks.apgd(clf, x, y, 0.1, loss="dlr")
    with pytest.raises(ValueError, match="at least 4 classes"):
        attacks.apgd_targeted(clf, x, y, 0.1)


# -- behaviour every attack shares --------------------------------------------------------
def run_all_new(clf, x, y, eps, batch_size):
    multi = clf.n_logits >= 4
    out = {"apgd-ce": attacks.apgd(clf, x, y, eps, iterations=12, rng=0, batch_size=batch_size),
           "apgd-second": attacks.apgd(clf, x, y, eps, iterations=12, loss="dlr" if multi else "margin", rng=0,
                                       batch_size=batch_size),
           "square": attacks.square(clf, x, y, eps, queries=60, rng=0, batch_size=batch_size)}
    if multi:
        out["apgd-t"] = attacks.apgd_targeted(clf, x, y, eps, iterations=8, n_targets=3, rng=0, batch_size=batch_size)
    return out


@pytest.mark.parametrize("frontend", [False, True])
def test_new_attacks_do_not_depend_on_the_batch_size(frontend):
    clf = Classifier(mlp(6), Sparsifier() if frontend else None)
    x, y = own_labels(clf, 11)
    a, b = run_all_new(clf, x, y, 0.1, 3), run_all_new(clf, x, y, 0.1, 8)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("net", [mlp(7), fc2(seed=7, dtype=np.float64)], ids=["multiclass", "binary"])
def test_new_attacks_respect_the_budget_and_leave_the_input_alone(net):
    clf = Classifier(net)
    x, y = own_labels(clf, 10)
    keep = x.copy()
    for name, adv in run_all_new(clf, x, y, 0.05, 4).items():
        np.testing.assert_array_equal(x, keep, err_msg=f"{name} modified its input")
        assert adv.shape == x.shape and adv.dtype == x.dtype
        r = attacks.evaluate(clf, x, y, adv, eps=0.05)     # raises if the budget is broken
        assert r["robust_accuracy"] <= 1.0
        assert np.abs(adv - x).max() <= 0.05 + 1e-12 and adv.min() >= 0 and adv.max() <= 1


def test_apgd_returns_the_misclassified_point_it_found():
    clf = Classifier(mlp(8))
    x, y = own_labels(clf, 30)
    t = np.random.default_rng(0).uniform(-1, 1, x.shape)
    points, fooled, _ = _apgd_run(clf, x, y, 0.05, 20, "ce", 0.75, t, None)
    assert 0 < fooled.sum() < len(x)
    np.testing.assert_array_equal(clf.predict(points) != y, fooled)
    assert np.abs(points - x).max() <= 0.05 + 1e-12


def test_apgd_restarts_keep_each_examples_worst_case():
    clf = Classifier(mlp(8))
    x, y = own_labels(clf, 30)
    once = clf.predict(attacks.apgd(clf, x, y, 0.02, iterations=3, rng=1)) != y
    twice = clf.predict(attacks.apgd(clf, x, y, 0.02, iterations=3, rng=1, restarts=3)) != y
    assert (twice >= once).all() and twice.sum() > once.sum()


def test_apgd_leaves_misclassified_examples_unchanged():
    clf = Classifier(mlp(9))
    x, y = own_labels(clf, 6)
    wrong = (y + 1) % 10
    np.testing.assert_array_equal(attacks.apgd(clf, x, wrong, 0.1, iterations=5, rng=0), x)


def test_only_gives_each_selected_example_its_whole_set_result():
    clf = Classifier(mlp(10))
    x, y = own_labels(clf, 9)
    mask = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1], bool)
    for run in (lambda **k: attacks.apgd(clf, x, y, 0.1, iterations=10, rng=3, **k),
                lambda **k: attacks.apgd_targeted(clf, x, y, 0.1, iterations=6, n_targets=2, rng=3, **k),
                lambda **k: attacks.square(clf, x, y, 0.1, queries=40, rng=3, **k),
                lambda **k: attacks.pgd(clf, x, y, 0.1, 0.02, 5, rng=3, **k)):
        full, part = run(), run(only=mask)
        np.testing.assert_allclose(part[mask], full[mask], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(part[~mask], x[~mask])


@pytest.mark.parametrize("bad", [None, -0.1, float("nan"), "0.1", True])
def test_new_attacks_reject_a_bad_eps(bad):
    clf = Classifier(mlp(11))
    x, y = own_labels(clf, 2)
    for attack in (attacks.apgd, attacks.apgd_targeted, attacks.square, attacks.worst_case):
        with pytest.raises(ValueError, match="eps"):
            attack(clf, x, y, bad)


def test_apgd_rejects_bad_settings():
    clf = Classifier(mlp(12))
    x, y = own_labels(clf, 3)
    with pytest.raises(ValueError, match="unknown APGD loss"):
        attacks.apgd(clf, x, y, 0.1, loss="hinge")
    with pytest.raises(ValueError, match="targets are needed"):
        attacks.apgd(clf, x, y, 0.1, loss="dlr-targeted")
    with pytest.raises(ValueError, match="different from its label"):
        attacks.apgd(clf, x, y, 0.1, loss="dlr-targeted", targets=y)
    with pytest.raises(ValueError, match="restarts"):
        attacks.apgd(clf, x, y, 0.1, restarts=0)
    with pytest.raises(ValueError, match="only"):
        attacks.apgd(clf, x, y, 0.1, only=np.ones(5, bool))


# -- the Square Attack --------------------------------------------------------------------
class NoGradient(Classifier):
    def backward(self, seed):
        raise AssertionError("the Square Attack asked for a gradient")


def test_square_needs_no_gradient_and_is_deterministic():
    clf = NoGradient(mlp(13))
    x, y = own_labels(clf, 8)
    a = attacks.square(clf, x, y, 0.1, queries=50, rng=4)
    np.testing.assert_array_equal(a, attacks.square(clf, x, y, 0.1, queries=50, rng=4))
    assert not np.array_equal(a, attacks.square(clf, x, y, 0.1, queries=50, rng=5))


def test_square_margins_never_increase_and_its_points_stay_in_the_ball(monkeypatch):
    clf = Classifier(mlp(14))
    x, y = own_labels(clf, 10)
    seen = []
    accept = square_module._accept

    def checked(clf_, proposal, y_, act, best, m_best, fooled, batch_size):
        before = m_best.copy()
        accept(clf_, proposal, y_, act, best, m_best, fooled, batch_size)
        assert (m_best <= before).all(), "an accepted step raised a margin"
        assert np.abs(best - x).max() <= 0.1 + 1e-12 and best.min() >= 0 and best.max() <= 1
        seen.append(int((m_best < before).sum()))
    monkeypatch.setattr(square_module, "_accept", checked)
    adv = attacks.square(clf, x, y, 0.1, queries=80, rng=0)
    assert sum(seen) > 0          # some proposals were accepted
    # the returned points are the best ones: their margins are the recorded minima
    logits = clf.forward(adv)
    assert (attacks.margin(logits, y)[clf.predict(adv) == y] < 0).all()


def test_square_schedule_halves_p_on_the_published_iterations():
    share = square_module.square_size_share
    assert share(0.8, 0, 10000) == 0.8 and share(0.8, 10, 10000) == 0.8
    assert share(0.8, 11, 10000) == 0.4 and share(0.8, 51, 10000) == 0.2
    assert share(0.8, 8001, 10000) == 0.8 / 512
    assert share(0.8, 5, 5000) == 0.8 and share(0.8, 6, 5000) == 0.4   # rescaled to 5,000 queries


def test_square_starts_from_vertical_stripes():
    clf = Classifier(mlp(15))
    x = np.full((3, 28, 28), 0.5)
    y = clf.predict(x)
    start = attacks.square(clf, x, y, 0.1, queries=1, rng=0)     # one query: the start alone
    d = start - x
    np.testing.assert_allclose(np.abs(d), 0.1)
    np.testing.assert_array_equal(d, np.broadcast_to(d[:, :1, :], d.shape))   # constant down each column


# -- gradients through the front end --------------------------------------------------------
def test_the_three_gradients_through_the_front_end():
    rng = np.random.default_rng(16)
    x = rng.random((3, 28, 28))
    g = rng.standard_normal(x.shape)
    exact = Sparsifier()
    r, mask = exact._reconstruct(x)
    A, S = exact._maps(np.float64), None
    through = exact._project_rows(g.reshape(3, -1), mask).reshape(x.shape)      # A^T M S^T g
    clipped = exact._project_rows(g.reshape(3, -1) * ((r >= 0) & (r <= 1)), mask).reshape(x.shape)
    assert ((r < 0) | (r > 1)).mean() > 0.2                                      # the clip matters here
    np.testing.assert_allclose(exact.vjp(x, g), clipped, atol=1e-12)
    np.testing.assert_allclose(exact.with_gradient("straight-through").vjp(x, g), through, atol=1e-12)
    np.testing.assert_array_equal(exact.with_gradient("bpda").vjp(x, g), g)
    assert not np.allclose(through, clipped)
    other = exact.with_gradient("bpda")
    assert (other.basis, other.level, other.rho, other.K) == (exact.basis, exact.level, exact.rho, exact.K)


def test_with_gradient_swaps_only_the_front_end_gradient():
    net = mlp(17)
    clf = Classifier(net, Sparsifier())
    st = attacks.with_gradient(clf, "straight-through")
    assert st.net is net and st.frontend.gradient == "straight-through" and clf.frontend.gradient == "exact"
    plain = Classifier(net)
    assert attacks.with_gradient(plain, "bpda") is plain


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
    assert [a.name for a in suite][-1] == "square" and len(suite) == (6 if frontend else 4)
    for attack in suite:
        target = clf if attack.gradient is None else attacks.with_gradient(clf, attack.gradient)
        alone = attack.run(target, x, y, eps, None)
        broken_alone = clf.predict(alone) != y
        assert not (result.robust & broken_alone).any(), f"{attack.name} alone breaks an example the worst case keeps"
    # the returned adversarials are what the verdict says, re-checked here
    again = attacks.evaluate(clf, x, y, result.x_adv, eps=eps)
    np.testing.assert_array_equal(again["correct"], result.robust)
    assert list(result.accuracy_after) == ["clean"] + [a.name for a in suite]
    assert np.all(np.diff(list(result.accuracy_after.values())) <= 0)


def test_each_attack_in_the_suite_gives_the_examples_it_sees_their_stand_alone_result():
    clf = Classifier(mlp(24))
    x, y = own_labels(clf, 12)
    eps = 0.05
    first = attacks.Attack("first-three", lambda c, x_, y_, e, only: np.where(
        (np.arange(len(x_)) < 3)[:, None, None] & only[:, None, None], np.clip(x_ + e, 0, 1), x_), None)
    sq = attacks.Attack("square", lambda c, x_, y_, e, only: attacks.square(c, x_, y_, e, queries=30, rng=5, only=only),
                        None)
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
    run = attacks.transfer(source, iterations=4)
    adv = run(target, x, y, 0.1)
    np.testing.assert_array_equal(adv, attacks.pgd(source, x, y, 0.1, 0.1 / 20, 4, rng=0))
    noise = attacks.random_sign(np.full((2, 28, 28), 0.5), 0.1, rng=0)
    np.testing.assert_allclose(np.abs(noise - 0.5), 0.1)


# -- the report's view of the adaptive section ------------------------------------------------------
def fake(correct, **extra):
    correct = np.asarray(correct, bool)
    return {"correct": correct.tolist(), "n": len(correct), "robust_accuracy": float(correct.mean()),
            "clean_accuracy": 1.0, **extra}


def test_worst_case_cell_combines_the_suite_with_the_papers_attacks_example_by_example():
    from sparsenet.repro import adaptive
    suite = fake([1, 1, 1, 0], accuracy_after={"clean": 1.0, "apgd-ce/exact": 0.75})
    results = {"adaptive/cnn4/frontend/suite": suite,
               "table1/pgd/frontend": fake([1, 0, 1, 1], any_iterate=fake([1, 0, 0, 1])),
               "table1/fgsm/frontend": fake([1, 1, 1, 1])}
    assert adaptive.worst_case(results, "cnn4/frontend") == (25.0, 4)     # only example 0 survives all
    cells = adaptive.cells(results)
    assert cells["adaptive/cnn4/frontend/worst_case"] == (25.0, 4)
    assert cells["adaptive/cnn4/frontend/suite"] == (75.0, 4)
    assert cells["adaptive/cnn4/frontend/after/apgd-ce/exact"] == (75.0, 4)


def test_sanity_checks_flag_masking_stalling_and_weak_budgets():
    from sparsenet.repro import adaptive
    net = "cnn4/frontend"
    cells = {f"adaptive/{net}/gradient_worst": (12.0, 500), f"adaptive/{net}/square": (5.5, 500),
             f"adaptive/{net}/transfer": (60.0, 500), f"adaptive/{net}/noise": (97.0, 500),
             f"adaptive/{net}/budget/base": (20.8, 500), f"adaptive/{net}/budget/iterations": (20.0, 500),
             f"adaptive/{net}/budget/restarts": (15.0, 500)}
    for e, v in zip(attacks_eps(), (80, 50, 30, 20, 10, 6, 4, 4)):
        cells[f"adaptive/{net}/eps/{e:g}/worst"] = (float(v), 200)
    checks = {c: (ok, m) for c, ok, m in adaptive.sanity(cells, net, {"table1/fgsm/frontend": 84.0,
                                                                        "table1/pgd/frontend": 50.0})}
    assert checks["gradient-free (Square) does not beat the gradient attacks by more than a point"][0] is False
    assert "masked" in checks["gradient-free (Square) does not beat the gradient attacks by more than a point"][1]
    assert checks["accuracy falls to 0 as ε grows"] == (False, "stalls at 4.0% (ε = 0.5)")
    assert checks["more iterations (100 → 400) or restarts (1 → 5) change little"][0] is False   # 5.8 points
    assert checks["iterative beats single-step"][0] is True
    assert checks["white box beats transfer"][0] is True
    assert checks["random sign noise is far weaker than any attack"][0] is True
    cells[f"adaptive/{net}/square"] = (11.5, 500)                 # within a point: no masking flag
    cells[f"adaptive/{net}/eps/0.5/worst"] = (0.0, 200)
    cells[f"adaptive/{net}/budget/restarts"] = (19.5, 500)
    checks = {c: ok for c, ok, _ in adaptive.sanity(cells, net, {})}
    assert checks["gradient-free (Square) does not beat the gradient attacks by more than a point"] is True
    assert checks["accuracy falls to 0 as ε grows"] is True
    assert checks["more iterations (100 → 400) or restarts (1 → 5) change little"] is True


def attacks_eps():
    from sparsenet.repro.settings import ADAPTIVE_EPS
    return ADAPTIVE_EPS
