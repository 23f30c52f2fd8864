"""Tests written for the mutants of issue 13's mutation pass that the other tests let live
(see tests/mutation/): APGD's count of loss increases and APGD-T's targets, the geometry of
the Square Attack's squares, the worst case's gradients and budget check, C&W's search over
c and its smallest adversarial, the rounding behind an accuracy interval, and the adaptive
section's cells and sanity checks. Every expected value is worked out here by hand, never
by calling the code under test."""
import math

import numpy as np
import pytest

from sparsenet import attacks
from sparsenet.repro import adaptive
import sparsenet.attacks.autopgd as autopgd_module
import sparsenet.attacks.square_attack as square_module
from sparsenet.attacks.autopgd import _apgd_run
from sparsenet.frontend import Sparsifier
from sparsenet.models import Classifier, fc2
from sparsenet.stats import Z95, accuracy_interval, wilson_interval
from test_adaptive import mlp   # the same small float64 network as the APGD tests




def own_labels(clf, n, seed=1):
    x = np.random.default_rng(seed).random((n, 28, 28))
    return x, clf.predict(x)


# -- the gradient attacks ------------------------------------------------------------------------
def test_stop_on_success_never_evaluates_a_fooled_example_again():
    """``stop_on_success`` freezes an example at its first misclassified iterate: it costs
    no further forward or backward pass (mutant attacks-5: the example is not frozen, so
    each step evaluates it again only to find it still fooled; the output is the same)."""
    clf = Classifier(mlp(41))
    x, y = own_labels(clf, 12, seed=4)
    calls = []
    forward = clf.forward

    def recording(points):
        logits = forward(points)
        calls.append((np.array(points), logits.argmax(axis=1)))
        return logits
    clf.forward = recording
    iterations = 8
    attacks.iterative_fgsm(clf, x, y, 0.02, 0.0025, iterations, stop_on_success=True)
    frozen, fooled_at = set(), []
    for k, (points, pred) in enumerate(calls):
        owner = [int(np.argmin(np.abs(p - x).reshape(len(x), -1).max(axis=1))) for p in points]
        assert not frozen & set(owner), f"step {k + 1} evaluates examples already fooled"
        fooled_at.append([o for o, p in zip(owner, pred) if p != y[o]])
        frozen |= set(fooled_at[-1])
    assert 0 < len(frozen) < len(x) and len(calls) == iterations
    assert sum(len(f) for f in fooled_at[:-1]) > 0          # fooled before the last step: frozen since


# -- APGD ---------------------------------------------------------------------------------------
def test_apgd_counts_the_loss_increases_of_each_checkpoint_window_only(monkeypatch):
    """Condition 1 at checkpoint w_j counts the steps k in (w_{j-1}, w_j] with f(x_k) >
    f(x_{k-1}): the count starts again from 0 after every checkpoint (mutant apgd-10)."""
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
    t = np.random.default_rng(0).uniform(-1, 1, x.shape)
    _, fooled, _ = _apgd_run(clf, x, y, 0.03, iterations, "ce", 0.75, t, None)
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
    classes at the clean input, runner-up first (mutant apgd-12: one target too few)."""
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


# -- the Square Attack ------------------------------------------------------------------------------
def test_square_first_proposal_is_an_s_by_s_square_of_the_published_size(monkeypatch):
    """The first query's square has area p_init h w = 0.8 * 784: side round(sqrt(627.2)) = 25.
    From the vertical stripes, the proposal changes full columns of exactly 25 rows, all to
    one sign (mutants square-2: side from the area without the root; square-6: s + 1 rows)."""
    net = mlp(15)
    net.weighted[-1].params["b"][0] += 5            # a clear winner: the stripes fool nobody
    clf = Classifier(net)
    n, eps = 8, 0.1
    x = np.full((n, 28, 28), 0.5)
    y = clf.predict(x)
    proposals = []
    accept = square_module._accept

    def record(clf_, proposal, y_, act, best, *rest):
        proposals.append((proposal.copy(), act.copy(), best[act].copy()))
        return accept(clf_, proposal, y_, act, best, *rest)
    monkeypatch.setattr(square_module, "_accept", record)
    attacks.square(clf, x, y, eps, queries=2, rng=0)
    assert len(proposals) == 1
    proposal, act, old = proposals[0]
    np.testing.assert_array_equal(act, np.arange(n))
    for i in range(n):
        changed = np.abs(proposal[i] - old[i]) > 1e-9
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        assert len(rows) == 25 and rows[-1] - rows[0] == 24, f"example {i}: {len(rows)} rows changed"
        assert 1 <= len(cols) and cols[-1] - cols[0] <= 24
        assert changed[np.ix_(rows, cols)].all()               # whole columns of the square
        d = proposal[i][changed] - x[i][changed]
        np.testing.assert_allclose(np.abs(d), eps)
        assert len(np.unique(np.sign(d))) == 1                  # one sign per square


def test_square_leaves_examples_misclassified_when_clean_unchanged():
    """Mutant square-7: without the clean-accuracy mask the wrong examples get the stripes."""
    clf = Classifier(mlp(16))
    x, y = own_labels(clf, 6)
    wrong = y.copy()
    wrong[::2] = (y[::2] + 1) % 10
    out = attacks.square(clf, x, wrong, 0.1, queries=20, rng=0)
    np.testing.assert_array_equal(out[::2], x[::2])
    assert not np.array_equal(out[1::2], x[1::2])


# -- the worst case over a suite ---------------------------------------------------------------------
def test_worst_case_gives_each_attack_its_own_gradient_through_the_front_end():
    """Mutant suite-3: every attack got the exact VJP whatever it asked for."""
    clf = Classifier(mlp(17), Sparsifier())
    x, y = own_labels(clf, 4)
    seen = {}

    def recorder(name):
        def run(c, x_, y_, eps, only):
            seen[name] = None if c.frontend is None else c.frontend.gradient
            assert c.net is clf.net
            return x_.copy()
        return run
    suite = [attacks.Attack("st", recorder("st"), "straight-through"), attacks.Attack("bpda", recorder("bpda"), "bpda"),
             attacks.Attack("exact", recorder("exact"), "exact"), attacks.Attack("free", recorder("free"), None)]
    attacks.worst_case(clf, x, y, 0.1, suite)
    assert seen == {"st": "straight-through", "bpda": "bpda", "exact": "exact", "free": "exact"}


def test_worst_case_refuses_an_attack_that_leaves_the_budget():
    """Nothing an attack returns is trusted (mutant suite-4: the ε check dropped)."""
    clf = Classifier(mlp(18))
    x = np.full((3, 28, 28), 0.5)
    y = clf.predict(x)
    cheat = attacks.Attack("cheat", lambda c, x_, y_, eps, only: np.clip(x_ + 2 * eps, 0, 1), None)
    with pytest.raises(ValueError, match="ℓ∞ ball"):
        attacks.worst_case(clf, x, y, 0.1, [cheat])


# -- Carlini & Wagner ----------------------------------------------------------------------------------
def test_carlini_wagner_search_over_c_multiplies_by_10_then_bisects():
    """Without a success c grows x10 per binary step (seen in the logit gradient, ±c on fc2's
    one logit); once every step succeeds, c is bisected towards 0 and the smallest successful
    c is reported (mutant cw-1: x2)."""
    net = fc2(seed=7, dtype=np.float64)
    clf = Classifier(net)
    seeds = []
    backward = clf.backward
    clf.backward = lambda seed: seeds.append(np.array(seed)) or backward(seed)
    x = np.full((1, 28, 28), 0.5)
    y = (clf.forward(x)[:, 0] > 0).astype(int)              # correct: one Adam step cannot change that here
    _, info = attacks.carlini_wagner_l2(clf, x, y, initial_const=0.5, binary_steps=3, max_iterations=1,
                                        abort_early=False)
    assert not info["success"][0]
    np.testing.assert_allclose([abs(s[0, 0]) for s in seeds], [0.5, 5.0, 50.0])
    # Misclassified from the start: every step succeeds, c = 0.5, then (0 + 0.5)/2, then 0.125.
    _, info = attacks.carlini_wagner_l2(clf, x, 1 - y, initial_const=0.5, binary_steps=3, max_iterations=1,
                                        abort_early=False)
    assert info["success"][0] and info["const"][0] == pytest.approx(0.125)


def test_carlini_wagner_returns_the_smallest_successful_point_it_evaluated():
    """Every point C&W evaluates goes through ``forward``: of those misclassified, each
    example returns the one nearest to it in ℓ2 (mutant cw-3: the last one)."""
    net = fc2(seed=5, dtype=np.float64)
    clf = Classifier(net)
    evaluated = []
    forward = clf.forward

    def recording(points):
        logits = forward(points)
        evaluated.append((np.array(points), (logits[:, 0] > 0).astype(int)))
        return logits
    clf.forward = recording
    rng = np.random.default_rng(5)
    x = rng.random((4, 28, 28)) * 0.6 + 0.2
    y = (forward(x)[:, 0] > 0).astype(int)
    adv, info = attacks.carlini_wagner_l2(clf, x, y, initial_const=0.1, binary_steps=4, max_iterations=60,
                                          lr=0.05, abort_early=False)
    best = np.full(len(x), np.inf)
    n_success = np.zeros(len(x), int)
    for points, pred in evaluated:
        flat = points.reshape(len(points), -1)
        owner = np.argmin(((flat[:, None, :] - x.reshape(1, len(x), -1)) ** 2).sum(axis=2), axis=1)
        d2 = ((flat - x.reshape(len(x), -1)[owner]) ** 2).sum(axis=1)
        for i in np.flatnonzero(pred != y[owner]):
            best[owner[i]] = min(best[owner[i]], d2[i])
            n_success[owner[i]] += 1
    assert info["success"].all() and (n_success > 1).all()
    np.testing.assert_allclose(info["l2"], np.sqrt(best), rtol=1e-9)


# -- error bars -------------------------------------------------------------------------------------------
def test_accuracy_interval_rounds_the_count_not_truncates_it():
    """0.29 * 100 is 28.999999999999996 in binary: the count is 29 (mutant stats-3)."""
    assert 0.29 * 100 < 29
    z2 = Z95 ** 2
    p, n = 0.29, 100
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo, hi = accuracy_interval(0.29, 100)
    assert (lo, hi) == (pytest.approx(center - half, abs=1e-12), pytest.approx(center + half, abs=1e-12))
    assert accuracy_interval(0.57, 100) == wilson_interval(57, 100)      # 0.57 * 100 = 56.99999999999999


# -- the adaptive section -----------------------------------------------------------------------------------
def fake(correct, **extra):
    correct = np.asarray(correct, bool)
    return {"correct": correct.tolist(), "n": len(correct), "robust_accuracy": float(correct.mean()),
            "clean_accuracy": 1.0, **extra}


def test_adaptive_cells_by_hand():
    """APGD-CE's cell is its strongest way through the front end (mutant adaptive-5); the
    gradient attacks' worst case leaves out Square, transfer and noise (adaptive-6); the eps
    sweep counts the paper's attack's any-iterate verdict (adaptive-7)."""
    net, b = "cnn4/frontend", "adaptive/cnn4/frontend"
    results = {
        f"{b}/suite": fake([1, 1, 1, 1, 1, 1, 1, 0], accuracy_after={"clean": 1.0}),
        f"{b}/alone/apgd-ce/exact": fake([1, 1, 1, 1, 1, 1, 0, 0]),             # 75%
        f"{b}/alone/apgd-ce/straight-through": fake([1, 1, 1, 1, 1, 0, 0, 0]),  # 62.5%: the CE cell
        f"{b}/alone/apgd-ce/bpda": fake([1, 1, 1, 1, 1, 1, 1, 0]),              # 87.5%
        f"{b}/alone/apgd-dlr/exact": fake([0, 1, 1, 1, 1, 1, 1, 1]),
        f"{b}/alone/square": fake([1, 0, 1, 1, 1, 1, 1, 1]),                    # gradient-free
        f"{b}/alone/transfer": fake([1, 1, 0, 1, 1, 1, 1, 1]),                  # black box
        f"{b}/alone/noise": fake([1, 1, 1, 0, 1, 1, 1, 1]),                     # black box
        f"{b}/eps/0.25/paper": fake([1, 1, 1, 1, 1, 1, 1, 1], any_iterate=fake([1, 0, 1, 1, 1, 1, 1, 1])),
        f"{b}/eps/0.25/worst": fake([1, 1, 0, 1, 1, 1, 1, 1]),
    }
    cells = adaptive.cells(results)
    assert cells[f"{b}/apgd-ce"] == (62.5, 8)
    # examples 0 (DLR) and 5, 6, 7 (CE) fall to a gradient attack: 4 of 8 survive
    assert cells[f"{b}/gradient_worst"] == (50.0, 8)
    assert cells[f"{b}/eps/0.25/paper"] == (87.5, 8)             # example 1 fooled at some iterate
    assert cells[f"{b}/eps/0.25/worst"] == (75.0, 8)             # examples 1 (paper) and 2 (suite)
    assert cells[f"{b}/square"] == (87.5, 8) and cells[f"{b}/transfer"] == (87.5, 8)
    assert adaptive.networks(results) == [net]


def sanity_cells(**values):
    net = "cnn4/frontend"
    return net, {f"adaptive/{net}/{k}": (v, 500) for k, v in values.items()}


def test_masking_is_flagged_as_soon_as_square_wins_by_more_than_one_point():
    """Mutant adaptive-2 (a margin of 2 points): 1.5 points must be flagged, 1 point not."""
    check = "gradient-free (Square) does not beat the gradient attacks by more than a point"
    for square, ok in ((10.5, False), (11.0, True), (12.0, True)):
        net, cells = sanity_cells(gradient_worst=12.0, square=square)
        got = {c: passed for c, passed, _ in adaptive.sanity(cells, net, {})}
        assert got[check] is ok, square


def test_noise_must_be_far_weaker_than_the_weakest_attack():
    """Noise at 65% is within 10 points of transfer's 60% (the weakest attack): the check
    fails, however strong the others (mutant adaptive-3: compared with the strongest)."""
    check = "random sign noise is far weaker than any attack"
    net, cells = sanity_cells(gradient_worst=12.0, square=11.5, transfer=60.0, noise=65.0)
    got = {c: (passed, m) for c, passed, m in adaptive.sanity(cells, net, {})}
    assert got[check] == (False, "noise 65.0% vs the weakest attack 60.0%")
    net, cells = sanity_cells(gradient_worst=12.0, square=11.5, transfer=60.0, noise=70.5)
    assert {c: passed for c, passed, _ in adaptive.sanity(cells, net, {})}[check] is True
