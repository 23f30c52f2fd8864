"""sparsenet.attacks.autopgd: APGD's step-size schedule (checkpoints, halving, restarts from
the best point), its first steps by hand, the DLR losses and their gradients, APGD-T's
targets, and APGD's settings. Expected values are worked out here by hand."""
import math
from fractions import Fraction

import numpy as np
import pytest

import sparsenet.attacks.autopgd as autopgd_module
from helpers import mlp, numerical_grad, own_labels, rel_error
from sparsenet import attacks
from sparsenet.attacks.autopgd import apgd_batch, attack_loss, halve_step
from sparsenet.layers import Dense, Flatten
from sparsenet.models import Classifier, Sequential, fc2


def sphere_start(x, eps, seed):
    """APGD's random start: x + ε t / ‖t‖∞ with t uniform in [-1, 1], a point of the ε-sphere."""
    t = np.random.default_rng(seed).uniform(-1, 1, x.shape)
    return x + eps * t / np.abs(t).reshape(len(x), -1).max(axis=1)[:, None, None]


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
    t = np.random.default_rng(7).uniform(-1, 1, x.shape)          # apgd's start with rng=7
    points = attacks.apgd(clf, x, y, eps, iterations=2, rng=7, log=None)
    assert (clf.predict(points) == y).all()

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
    start = sphere_start(x, 0.03, seed=0)
    calls = []

    def every_other(n_increases, *args):        # halve examples 0, 2, 4 at every checkpoint
        calls.append(len(n_increases))
        return np.arange(len(n_increases)) % 2 == 0
    monkeypatch.setattr("sparsenet.attacks.autopgd.halve_step", every_other)
    trace = []
    run = apgd_batch(clf, x, y, 0.03, iterations=10, start=start, watch=lambda *seen: trace.append(seen))
    assert not run.fooled.any() and len(trace) == 10
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


def test_apgd_returns_the_misclassified_point_it_found():
    clf = Classifier(mlp(8))
    x, y = own_labels(clf, 30)
    start = sphere_start(x, 0.05, seed=0)
    points, fooled, _ = apgd_batch(clf, x, y, 0.05, iterations=20, start=start)
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


# -- APGD ---------------------------------------------------------------------------------------
def test_apgd_counts_the_loss_increases_of_each_checkpoint_window_only(monkeypatch):
    """Condition 1 at checkpoint w_j counts the steps k in (w_{j-1}, w_j] with f(x_k) >
    f(x_{k-1}): the count starts again from 0 after every checkpoint, and these counts (not only
    ``halve_step`` alone) are checked here."""
    net = mlp(23)
    net.weighted[-1].params["b"][0] += 5            # a clear winner: nothing is fooled at this ε
    clf = Classifier(net)
    x, y = own_labels(clf, 6)
    losses, seen = [], []
    attack_loss, halve_step = autopgd_module.attack_loss, autopgd_module.halve_step

    def recording_loss(*args, **kw):
        f, g = attack_loss(*args, **kw)
        losses.append(f.copy())
        return f, g

    def recording_halve(n_increases, window, *args):
        seen.append((n_increases.copy(), window))
        return halve_step(n_increases, window, *args)
    monkeypatch.setattr(autopgd_module, "attack_loss", recording_loss)
    monkeypatch.setattr(autopgd_module, "halve_step", recording_halve)
    iterations = 30
    start = sphere_start(x, 0.03, seed=0)
    _, fooled, _ = apgd_batch(clf, x, y, 0.03, iterations=iterations, start=start)
    assert not fooled.any()
    f = np.array(losses)                              # f[k]: the loss of x_k, k = 0 .. iterations
    assert f.shape == (iterations + 1, len(x))
    # The published checkpoints for 30 iterations: ⌈30 p_j⌉ with p = 0, .22, .41, .57, .70, .80, .87, .93, .99.
    marks = [0, 7, 13, 18, 21, 24, 27, 28, 30]
    assert [w for _, w in seen] == list(np.diff(marks))
    increases = f[1:] > f[:-1]                        # increases[k - 1]: step k raised the loss
    for j, (counted, _) in enumerate(seen, 1):
        np.testing.assert_array_equal(counted, increases[marks[j - 1]:marks[j]].sum(axis=0))
    assert any(c.sum() for c, _ in seen[1:])          # later windows do count increases here


def test_apgd_targeted_tries_the_n_highest_wrong_classes_in_order(monkeypatch):
    """APGD-T runs once per target, the targets being the ``n_targets`` highest-scoring wrong
    classes at the clean input, runner-up first, and exactly ``n_targets`` of them."""
    clf = Classifier(mlp(31))
    x, y = own_labels(clf, 5)
    calls = []

    def fake_apgd(clf_, x_, y_, eps, iterations, loss, targets=None, only=None, **kw):
        calls.append((loss, np.array(targets), np.array(only)))
        return x_.copy()                              # breaks nothing: every target is tried
    monkeypatch.setattr(autopgd_module, "apgd", fake_apgd)
    out = attacks.apgd_targeted(clf, x, y, 0.1, iterations=3, n_targets=3, rng=0)
    np.testing.assert_array_equal(out, x)
    z = clf.forward(x)
    by_score = [sorted(range(10), key=lambda c: -z[i, c]) for i in range(len(x))]
    assert all(by_score[i][0] == y[i] for i in range(len(x)))     # own labels: the top class
    assert len(calls) == 3
    for k, (loss, targets, only) in enumerate(calls, 1):
        assert loss == "dlr-targeted" and only.all()
        np.testing.assert_array_equal(targets, [by_score[i][k] for i in range(len(x))])
