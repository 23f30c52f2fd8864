"""Exact verification (sparsenet.verify): the MILP's answers against brute force, attacks and
Theorem 2, its counterexamples checked, its bounds sampled, its inputs refused.

Brute force: a ReLU network is affine on each activation pattern's region, so the worst margin
over the ball is the minimum, over every pattern of every hidden unit, of one LP (the region's
sign constraints, the ball, [0, 1]); the minimal radius likewise. ``brute_margin`` and
``brute_radius`` enumerate the patterns of networks with a handful of hidden units.
"""
import copy
import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from sparsenet import attacks, theory, verify
from sparsenet.data import load_binary
from sparsenet.frontend import Sparsifier
from sparsenet.layers import Dense, Dropout, Flatten, ReLU, Reshape
from sparsenet.models import Classifier, Sequential, cnn4, fc2, fc10, predictions, prune
from sparsenet.training import fit, set_penalty

SHAPE = (2, 3)          # tiny networks read 2 x 3 "images": six pixels


# -- tiny networks and brute force ---------------------------------------------------------------
def tiny(seed, hidden=(4,), n_out=1, scale=1.0, shape=SHAPE, dropout=False):
    """A random Sequential Flatten -> (Dense -> ReLU)* -> Dense on ``shape`` images, with biases
    that leave some units unstable on the balls the tests use."""
    rng = np.random.default_rng(seed)
    sizes = (int(np.prod(shape)),) + tuple(hidden) + (n_out,)
    layers = [Reshape(shape + (1,)), Flatten()]
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        dense = Dense(a, b, rng=rng)
        dense.params["W"][...] = scale * rng.standard_normal((a, b))
        dense.params["b"][...] = scale * rng.standard_normal(b) * 0.5
        layers.append(dense)
        if k < len(sizes) - 2:
            layers.append(ReLU())
            if dropout:
                layers.append(Dropout(0.5, rng=seed))
    return Sequential(layers, input_shape=shape, arch="tiny")


def affine_pieces(net, pattern):
    """For one activation pattern (one 0/1 per hidden unit, layer by layer): the logits as
    x @ A + c on the pattern's region, and the region as rows (G, h) with G x <= h."""
    W = [l.params["W"].astype(np.float64) for l in net.weighted]
    b = [l.params["b"].astype(np.float64) for l in net.weighted]
    n = W[0].shape[0]
    A, c, G, h, k = np.eye(n), np.zeros(n), [], [], 0
    for Wl, bl in zip(W[:-1], b[:-1]):
        A, c = A @ Wl, c @ Wl + bl
        s = np.array(pattern[k:k + Wl.shape[1]])
        k += Wl.shape[1]
        sign = np.where(s == 1, -1.0, 1.0)            # on: -(xA + c) <= 0; off: xA + c <= 0
        G.append((A * sign).T)
        h.append(-c * sign)
        A, c = A * s, c * s
    A, c = A @ W[-1], c @ W[-1] + b[-1]
    return A, c, np.vstack(G), np.concatenate(h)


def margin_rows(A, c, t):
    """The margins as (x @ M + m) columns: one logit -> the logit towards t; else y_t - y_j."""
    if A.shape[1] == 1:
        s = 1.0 if t == 1 else -1.0
        return s * A, s * c
    others = [j for j in range(A.shape[1]) if j != t]
    return A[:, [t]] - A[:, others], c[t] - c[others]


def brute_margin(net, x, t, eps):
    """min over the ball of x (radius eps, in [0, 1]) of the worst margin, by enumeration."""
    hidden = sum(l.params["W"].shape[1] for l in net.weighted[:-1])
    x = x.astype(np.float64).ravel()
    bounds = list(zip(np.maximum(x - eps, 0), np.minimum(x + eps, 1)))
    best = np.inf
    for pattern in itertools.product((0, 1), repeat=hidden):
        A, c, G, h = affine_pieces(net, pattern)
        M, m = margin_rows(A, c, t)
        for j in range(M.shape[1]):
            res = linprog(M[:, j], A_ub=G, b_ub=h, bounds=bounds, method="highs")
            if res.status == 0:
                best = min(best, res.fun + m[j])
    return best


def brute_radius(net, x, t):
    """The smallest l-inf distance from x to a point of [0, 1] with a margin <= 0, by enumeration
    (variables x', r: minimize r)."""
    hidden = sum(l.params["W"].shape[1] for l in net.weighted[:-1])
    x = x.astype(np.float64).ravel()
    n = len(x)
    eye = np.eye(n)
    ball = np.block([[eye, -np.ones((n, 1))], [-eye, -np.ones((n, 1))]])          # |x' - x| <= r
    best = np.inf
    for pattern in itertools.product((0, 1), repeat=hidden):
        A, c, G, h = affine_pieces(net, pattern)
        M, m = margin_rows(A, c, t)
        for j in range(M.shape[1]):
            A_ub = np.vstack([np.hstack([G, np.zeros((len(G), 1))]), ball, np.append(M[:, j], 0)[None]])
            b_ub = np.concatenate([h, x, -x, [-m[j]]])
            res = linprog(np.append(np.zeros(n), 1.0), A_ub=A_ub, b_ub=b_ub,
                          bounds=[(0, 1)] * n + [(0, None)], method="highs")
            if res.status == 0:
                best = min(best, res.fun)
    return best


def images(seed, n, shape=SHAPE):
    return np.random.default_rng(seed).random((n,) + shape).astype(np.float32)


def true_labels(net, x):
    """The network's own clean predictions: every example starts correct."""
    return predictions(net.forward(x))


def assert_valid_counterexamples(net, x, y, eps, result):
    """Every "broken" example carries an image of the network's dtype, inside the ball (checked
    exactly, in float64) and [0, 1], that the network's own forward pass misclassifies."""
    for i in np.flatnonzero(result.status == "broken"):
        q = result.counterexamples[i]
        assert q is not None and q.dtype == net.dtype and q.shape == x[i].shape
        assert np.all(q >= 0) and np.all(q <= 1)
        assert np.abs(q.astype(np.float64) - x[i].astype(np.float64)).max() <= eps
        assert predictions(net.forward(q[None]))[0] != y[i]
    for i in np.flatnonzero(result.status != "broken"):
        assert result.counterexamples[i] is None


# -- exact against brute force -------------------------------------------------------------------
CASES = [  # (seed, hidden layers, logits, eps)
    (0, (4,), 1, 0.1), (1, (4,), 1, 0.3), (2, (5,), 1, 0.6), (3, (4,), 3, 0.1), (4, (4,), 3, 0.3),
    (5, (3, 3), 1, 0.2), (6, (3, 3), 3, 0.2), (7, (5,), 3, 0.5), (8, (3, 2), 2, 0.4),
]


_BRUTE = {}


def brute_case(seed, hidden, n_out, eps):
    """The case's network, images, labels and brute-force worst margins (computed once)."""
    key = (seed, hidden, n_out, eps)
    if key not in _BRUTE:
        net = tiny(seed, hidden, n_out)
        x = images(seed, 6)
        y = true_labels(net, x)
        _BRUTE[key] = net, x, y, np.array([brute_margin(net, x[i], y[i], eps) for i in range(len(x))])
    return _BRUTE[key]


VARIANTS = {"fast": {}, "no-cuts": {"cuts": False}, "plain": {"plain": True}, "lp-tightening": {"tighten": True}}


@pytest.mark.parametrize("case, variant", [(case, "fast") for case in CASES]
                         + [(case, v) for case in CASES[2::3] for v in VARIANTS if v != "fast"])
def test_exact_agrees_with_brute_force_on_tiny_networks(case, variant):
    seed, hidden, n_out, eps = case
    net, x, y, worst = brute_case(*case)
    result = verify.exact(net, x, y, eps, log=None, **VARIANTS[variant])
    tau = result.tol
    assert np.all(result.status[worst > 10 * tau] == "robust"), (worst, result.status, result.detail)
    assert np.all(result.status[worst < -10 * tau] == "broken"), (worst, result.status, result.detail)
    assert not np.any((result.status == "robust") & (worst <= 0))
    robust = result.status == "robust"
    assert np.all(result.lower[robust] <= worst[robust] + 1e-6)     # the proved bound is a bound
    assert_valid_counterexamples(net, x, y, eps, result)


def test_exact_sees_both_ways_across_the_brute_force_threshold():
    """The cases above hold examples of each kind (the comparison is not vacuous)."""
    worst = np.concatenate([brute_case(*case)[3] for case in CASES])
    assert (worst > 0.01).sum() >= 10 and (worst < -0.01).sum() >= 10


@pytest.mark.parametrize("seed, hidden, n_out", [(10, (4,), 1), (11, (4,), 3), (12, (3, 2), 3)])
def test_minimal_radius_agrees_with_brute_force(seed, hidden, n_out):
    net = tiny(seed, hidden, n_out)
    x = images(seed, 4)
    y = true_labels(net, x)
    result = verify.minimal_radius(net, x, y, log=None)
    for i in range(len(x)):
        expected = brute_radius(net, x[i], y[i])
        if np.isinf(expected):
            assert result.status[i] == "beyond"
        else:
            assert result.status[i] == "exact", result.detail[i]
            assert result.radius[i] == pytest.approx(expected, rel=1e-3, abs=1e-6)


# -- exact against attacks, Theorem 2, constructions ---------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_exact_never_says_robust_where_an_attack_succeeds(seed):
    net = tiny(100 + seed, (6,), 1 + 2 * (seed % 2), shape=(4, 4))
    x = images(seed, 20, (4, 4))
    y = true_labels(net, x)
    eps = 0.15
    clf = Classifier(net)
    x_adv = attacks.pgd(clf, x, y, eps, eps / 8, 40, rng=seed)
    broken = clf.predict(x_adv) != y
    result = verify.exact(net, x, y, eps, log=None)
    assert not np.any((result.status == "robust") & broken)
    assert np.all(result.status[broken] == "broken")
    assert_valid_counterexamples(net, x, y, eps, result)


def test_exact_against_pgd_on_a_random_fc2():
    """The image-sized network: 784 inputs, ten hidden units."""
    net = fc2(seed=3)
    x = images(3, 12, (28, 28))
    y = true_labels(net, x)
    clf = Classifier(net)
    for eps in (0.01, 0.05):
        broken = clf.predict(attacks.pgd(clf, x, y, eps, eps / 8, 40, rng=0)) != y
        result = verify.exact(net, x, y, eps, log=None)
        assert not np.any((result.status == "robust") & broken)
        assert result.counts["unknown"] == 0
        assert_valid_counterexamples(net, x, y, eps, result)


def test_minimal_radius_lies_between_theorem2_and_any_attack():
    net = tiny(20, (5,), 3, shape=(4, 4))
    x = images(20, 8, (4, 4))
    y = true_labels(net, x)
    result = verify.minimal_radius(net, x, y, log=None)
    assert np.all(result.status == "exact"), result.detail
    certified = theory.certified_radius(net, x, y)
    assert np.all(certified <= result.radius + 1e-9)
    assert np.all(result.lower <= result.radius) and np.all(result.radius <= result.upper)
    # the counterexample is a point the network misclassifies, at distance upper
    for i in range(len(x)):
        q = result.counterexamples[i]
        assert predictions(net.forward(q[None]))[0] != y[i]
        assert np.abs(q.astype(np.float64) - x[i]).max() == pytest.approx(result.upper[i])
        assert result.upper[i] <= result.radius[i] + 2e-3        # the nudge across the boundary
    # an attack's misclassified points are never closer than the minimal radius
    clf = Classifier(net)
    for eps in (0.1, 0.2, 0.4):
        x_adv = attacks.pgd(clf, x, y, eps, eps / 8, 40, rng=0)
        fooled = clf.predict(x_adv) != y
        distance = np.abs(x_adv.astype(np.float64) - x).reshape(len(x), -1).max(axis=1)
        assert np.all(result.radius[fooled] <= distance[fooled] + 1e-7)


def test_exact_flips_at_the_minimal_radius():
    net = tiny(21, (5,), 3, shape=(4, 4))
    x = images(21, 6, (4, 4))
    y = true_labels(net, x)
    radius = verify.minimal_radius(net, x, y, log=None)
    for i in np.flatnonzero(radius.status == "exact"):
        below = verify.exact(net, x[i:i + 1], y[i:i + 1], radius.radius[i] * 0.98, log=None)
        above = verify.exact(net, x[i:i + 1], y[i:i + 1], radius.radius[i] * 1.02, log=None)
        assert below.status[0] == "robust" and above.status[0] == "broken"


def test_minimal_radius_with_a_known_adversarial_starts_from_its_distance():
    net = tiny(22, (5,), 1, shape=(4, 4))
    x = images(22, 6, (4, 4))
    y = true_labels(net, x)
    plain = verify.minimal_radius(net, x, y, log=None)
    clf = Classifier(net)
    x_adv = attacks.pgd(clf, x, y, 0.5, 0.05, 40, rng=0)
    fast = verify.minimal_radius(net, x, y, x_adv=x_adv, log=None)
    np.testing.assert_allclose(fast.radius, plain.radius, rtol=1e-3)


@pytest.mark.parametrize("n_out", [1, 10])
def test_a_network_robust_by_construction_is_proved_robust(n_out):
    net = fc2(seed=0) if n_out == 1 else fc10(seed=0, hidden=8)
    last = net.weighted[-1]
    last.params["W"][...] = 0                         # the logits ignore the input...
    last.params["b"][...] = np.arange(n_out) if n_out > 1 else 1.0    # ...and always say class 9 (1 for fc2)
    x = images(0, 5, (28, 28))
    y = np.full(5, max(n_out - 1, 1))
    result = verify.exact(net, x, y, 1.0, log=None)     # eps = 1: the whole of [0, 1]
    assert np.all(result.status == "robust")
    assert verify.minimal_radius(net, x, y, log=None).status.tolist() == ["beyond"] * 5
    # tiny weights, big bias: proved at a real radius, with real unstable units
    net = fc2(seed=1)
    net.weighted[0].params["W"] *= 1e-3
    net.weighted[1].params["b"][...] = 5.0
    result = verify.exact(net, x, np.ones(5, int), 0.3, log=None)
    assert np.all(result.status == "robust")


def test_a_margin_within_the_tolerance_is_unknown_never_robust():
    """One Dense layer, no ReLU: the worst logit over the ball is b + w.x - eps ||w||_1 (no pixel
    meets [0, 1]'s edge), set to a chosen value."""
    net = Sequential([Flatten(), Dense(6, 1)], input_shape=SHAPE)
    W = net.weighted[0].params["W"]
    W[...] = np.array([[1.0], [-2.0], [0.5], [0.0], [1.5], [-1.0]])
    x = np.full((1,) + SHAPE, 0.5, np.float32)
    eps = 0.25
    base = float(x.ravel() @ W[:, 0] - eps * np.abs(W).sum())
    for worst, expected in ((0.3 * verify.TOL, "unknown"), (20 * verify.TOL, "robust"), (-20 * verify.TOL, "broken")):
        net.weighted[0].params["b"][...] = worst - base
        result = verify.exact(net, x, np.ones(1, int), eps, log=None)
        assert result.status[0] == expected, (worst, result.detail)


# -- counterexamples and the fast path -----------------------------------------------------------
def test_the_fast_path_takes_the_attacks_broken_examples_without_a_program():
    net = tiny(30, (6,), 3, shape=(4, 4))
    x = images(30, 20, (4, 4))
    y = true_labels(net, x)
    eps = 0.2
    clf = Classifier(net)
    x_adv = attacks.pgd(clf, x, y, eps, eps / 8, 40, rng=0)
    broken = clf.predict(x_adv) != y
    assert 0 < broken.sum() < len(x)
    slow = verify.exact(net, x, y, eps, log=None)
    fast = verify.exact(net, x, y, eps, x_adv=x_adv, log=None)
    np.testing.assert_array_equal(fast.status, slow.status)
    assert np.all(fast.seconds[broken] == 0) and np.all(fast.binaries[broken] == -1)
    assert all(fast.detail[i] == "fast path" for i in np.flatnonzero(broken))
    for i in np.flatnonzero(broken):      # x_adv itself, up to the last bit that puts it in the exact ball
        np.testing.assert_allclose(fast.counterexamples[i], x_adv[i], rtol=0, atol=1e-7)
    assert_valid_counterexamples(net, x, y, eps, fast)


def test_the_fast_path_checks_the_images_it_is_given():
    """An x_adv outside the ball is put into it first, and only an image that then fools the
    network counts: a far-away adversarial proves nothing at this eps."""
    net = tiny(31, (6,), 1, shape=(4, 4))
    x = images(31, 10, (4, 4))
    y = true_labels(net, x)
    clf = Classifier(net)
    far = attacks.pgd(clf, x, y, 0.9, 0.1, 40, rng=0)          # breaks more than eps = 0.05 allows
    result = verify.exact(net, x, y, 0.05, x_adv=far, log=None)
    plain = verify.exact(net, x, y, 0.05, log=None)
    np.testing.assert_array_equal(result.status, plain.status)
    assert_valid_counterexamples(net, x, y, 0.05, result)
    clean_wrong = verify.exact(net, x, 1 - y, 0.05, x_adv=far, log=None)
    assert np.all(clean_wrong.status == "clean-wrong") and clean_wrong.robust_accuracy == 0


def test_the_result_counts_and_shares():
    net = tiny(32, (6,), 3, shape=(4, 4))
    x = images(32, 12, (4, 4))
    y = true_labels(net, x)
    y[:2] = (y[:2] + 1) % 3                                     # two clean-wrong examples
    result = verify.exact(net, x, y, 0.15, log=None)
    counts = result.counts
    assert counts["clean-wrong"] == 2 and sum(counts.values()) == 12
    assert result.robust_accuracy == counts["robust"] / 12
    assert result.robust_upper == (counts["robust"] + counts["unknown"]) / 12
    assert f"{counts['robust']} robust" in result.summary()
    assert np.all(result.seconds[:2] == 0) and all(c is None for c in result.counterexamples[:2])


def test_the_time_limit_gives_unknown():
    net = fc2(seed=4, hidden=20)
    x = images(4, 6, (28, 28))
    y = true_labels(net, x)
    result = verify.exact(net, x, y, 0.05, time_limit=1e-9, log=None)
    assert result.counts["unknown"] > 0 and result.counts["broken"] == 0
    assert all("time limit" in result.detail[i] for i in np.flatnonzero(result.status == "unknown"))
    assert result.robust_upper >= result.robust_accuracy + result.counts["unknown"] / 6 - 1e-12
    radius = verify.minimal_radius(net, x[:2], y[:2], time_limit=1e-9, log=None)
    assert np.all(radius.status == "unknown") and np.all(radius.lower <= radius.upper)


def test_exact_leaves_its_inputs_alone_and_does_not_depend_on_the_batch():
    net = tiny(33, (5,), 3, shape=(4, 4))
    x = images(33, 8, (4, 4))
    y = true_labels(net, x)
    before = x.copy()
    whole = verify.exact(net, x, y, 0.2, log=None)
    np.testing.assert_array_equal(x, before)
    parts = [verify.exact(net, x[i:i + 3], y[i:i + 3], 0.2, log=None).status for i in range(0, 8, 3)]
    np.testing.assert_array_equal(np.concatenate(parts), whole.status)


def test_workers_give_the_same_answers():
    net = tiny(35, (6,), 3, shape=(4, 4))
    x = images(35, 10, (4, 4))
    y = true_labels(net, x)
    serial = verify.exact(net, x, y, 0.15, log=None)
    threads = verify.exact(net, x, y, 0.15, workers=2, log=None)
    np.testing.assert_array_equal(threads.status, serial.status)
    assert_valid_counterexamples(net, x, y, 0.15, threads)
    radius = verify.minimal_radius(net, x[:4], y[:4], workers=2, log=None)
    np.testing.assert_allclose(radius.radius, verify.minimal_radius(net, x[:4], y[:4], log=None).radius)


def test_dropout_and_reshape_are_encoded_as_the_identity():
    net = tiny(34, (5,), 3, shape=(4, 4), dropout=True)
    x = images(34, 6, (4, 4))
    y = true_labels(net, x)
    result = verify.exact(net, x, y, 0.2, log=None)
    worst = np.array([brute_margin(net, x[i], y[i], 0.2) for i in range(len(x))])
    assert np.all((result.status == "robust") == (worst > 0)), (worst, result.status)


# -- interval bounds ----------------------------------------------------------------------------
def sampled_outputs(net, points):
    """Every layer's output at ``points``, in float64 (entry 0: the points)."""
    net64 = copy.deepcopy(net).astype(np.float64)
    outs, h = [points.astype(np.float64)], points.astype(np.float64)
    for layer in net64.layers:
        h = layer.forward(h)
        outs.append(h)
    return outs


def ball_samples(x, eps, n, rng):
    """Random points of the ball of x in [0, 1], random corners of it, and its centre."""
    lo, hi = np.maximum(x.astype(np.float64) - eps, 0), np.minimum(x.astype(np.float64) + eps, 1)
    uniform = lo + (hi - lo) * rng.random((n,) + x.shape)
    corners = np.where(rng.random((n,) + x.shape) < 0.5, lo, hi)
    return np.concatenate([uniform, corners, x[None].astype(np.float64)])


@pytest.mark.parametrize("make", [lambda: cnn4(seed=0), lambda: fc10(seed=0), lambda: fc2(seed=0)],
                         ids=["cnn4", "fc10", "fc2"])
def test_interval_bounds_contain_every_sampled_point(make):
    net = make()
    rng = np.random.default_rng(0)
    x = images(5, 2, (28, 28))
    eps = 0.1
    bounds = verify.interval_bounds(net, x, eps)
    assert len(bounds) == len(net.layers) + 1
    for i in range(len(x)):
        outs = sampled_outputs(net, ball_samples(x[i], eps, 12, rng))
        for k, ((lo, hi), out) in enumerate(zip(bounds, outs)):
            assert lo.dtype == np.float64 and lo[i].shape == out.shape[1:]
            slack = 1e-9 * (1 + np.abs(out))
            assert np.all(out >= lo[i] - slack), f"layer {k}: {net.layers[k - 1] if k else 'input'}"
            assert np.all(out <= hi[i] + slack), f"layer {k}: {net.layers[k - 1] if k else 'input'}"


def test_interval_bounds_are_the_exact_range_of_a_first_dense_layer():
    """Over a box, w . x + b reaches its interval bounds at two corners: nothing to tighten."""
    net = fc2(seed=0)
    x = images(6, 1, (28, 28))
    lo, hi = verify.interval_bounds(net, x, 0.1)[2]                  # after Flatten, Dense
    W, b = net.weighted[0].params["W"].astype(np.float64), net.weighted[0].params["b"]
    box_lo, box_hi = verify.interval_bounds(net, x, 0.1)[0]
    corner = np.where(W >= 0, box_hi.reshape(-1, 1), box_lo.reshape(-1, 1))   # per unit, the argmax
    np.testing.assert_allclose(hi[0], (corner * W).sum(axis=0) + b, rtol=1e-12)


def test_interval_bounds_with_eps_zero_are_the_forward_pass():
    net = cnn4(seed=1)
    x = images(7, 2, (28, 28))
    bounds = verify.interval_bounds(net, x, 0.0)
    logits = net.forward(x)
    np.testing.assert_allclose(bounds[-1][0], logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bounds[-1][1], logits, rtol=1e-4, atol=1e-4)


# -- what it refuses ----------------------------------------------------------------------------
def small():
    net = tiny(40, (4,), 3)
    x = images(40, 3)
    return net, x, true_labels(net, x)


BAD = [  # (id, call, exception, fragment)
    ("x: one image", lambda n, x, y: verify.exact(n, x[0], y, 0.1), ValueError, "x must have shape (n, 2, 3)"),
    ("x: integers", lambda n, x, y: verify.exact(n, (x * 255).astype(int), y, 0.1), ValueError, "floating-point"),
    ("x: NaN", lambda n, x, y: verify.exact(n, np.where(x > 0.5, np.nan, x), y, 0.1), ValueError, "finite"),
    ("x: above 1", lambda n, x, y: verify.exact(n, x * 3, y, 0.1), ValueError, "[0, 1]"),
    ("y: length", lambda n, x, y: verify.exact(n, x, y[:2], 0.1), ValueError, "y must have shape (3,)"),
    ("y: floats", lambda n, x, y: verify.exact(n, x, y.astype(float), 0.1), ValueError, "integer labels"),
    ("y: out of range", lambda n, x, y: verify.exact(n, x, y + 3, 0.1), ValueError, "[0, 2]"),
    ("eps: negative", lambda n, x, y: verify.exact(n, x, y, -0.1), ValueError, "eps must be"),
    ("eps: NaN", lambda n, x, y: verify.exact(n, x, y, float("nan")), ValueError, "eps must be"),
    ("eps: None", lambda n, x, y: verify.exact(n, x, y, None), ValueError, "eps must be"),
    ("eps: bool", lambda n, x, y: verify.exact(n, x, y, True), ValueError, "eps must be"),
    ("time_limit: 0", lambda n, x, y: verify.exact(n, x, y, 0.1, time_limit=0), ValueError, "time_limit"),
    ("time_limit: inf", lambda n, x, y: verify.exact(n, x, y, 0.1, time_limit=np.inf), ValueError, "time_limit"),
    ("tol: negative", lambda n, x, y: verify.exact(n, x, y, 0.1, tol=-1), ValueError, "tol must be"),
    ("tighten: 'yes'", lambda n, x, y: verify.exact(n, x, y, 0.1, tighten="yes"), ValueError, "tighten"),
    ("x_adv: shape", lambda n, x, y: verify.exact(n, x, y, 0.1, x_adv=x[:2]), ValueError, "x_adv must have"),
    ("x_adv: NaN", lambda n, x, y: verify.exact(n, x, y, 0.1, x_adv=x * np.nan), ValueError, "x_adv must be"),
    ("log: not callable", lambda n, x, y: verify.exact(n, x, y, 0.1, log="stderr"), ValueError, "log must be"),
    ("workers: 0", lambda n, x, y: verify.exact(n, x, y, 0.1, workers=0), ValueError, "workers must be"),
    ("net: conv", lambda n, x, y: verify.exact(cnn4(), images(0, 1, (28, 28)), [1], 0.1), ValueError,
     "Conv2D (layer 1), MaxPool2D (layer 2)"),
    ("net: front end", lambda n, x, y: verify.exact(Classifier(fc2(), Sparsifier()), images(0, 1, (28, 28)), [1],
                                                    0.1), ValueError, "front end"),
    ("net: not a network", lambda n, x, y: verify.exact("fc2", x, y, 0.1), TypeError, "Sequential"),
    ("interval_bounds: front end", lambda n, x, y: verify.interval_bounds(Classifier(fc2(), Sparsifier()),
                                                                          images(0, 1, (28, 28)), 0.1),
     ValueError, "front end"),
    ("interval_bounds: eps", lambda n, x, y: verify.interval_bounds(n, x, -1), ValueError, "eps must be"),
    ("minimal_radius: r_max", lambda n, x, y: verify.minimal_radius(n, x, y, r_max=0), ValueError, "r_max"),
    ("minimal_radius: y", lambda n, x, y: verify.minimal_radius(n, x, y[:1]), ValueError, "y must have"),
    ("minimal_radius: conv", lambda n, x, y: verify.minimal_radius(cnn4(), images(0, 1, (28, 28)), [1]),
     ValueError, "not encoded"),
]


@pytest.mark.parametrize("call, exception, fragment", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_inputs_are_refused(call, exception, fragment):
    net, x, y = small()
    with pytest.raises(exception) as err:
        call(net, x, y)
    assert fragment in str(err.value)


def test_a_classifier_without_front_end_is_its_network():
    net, x, y = small()
    a = verify.exact(Classifier(net), x, y, 0.2, log=None)
    b = verify.exact(net, x, y, 0.2, log=None)
    np.testing.assert_array_equal(a.status, b.status)


def test_no_images_give_an_empty_result():
    net, x, y = small()
    result = verify.exact(net, x[:0], y[:0], 0.1, log=None)
    assert result.n == 0 and sum(result.counts.values()) == 0
    assert np.isnan(result.robust_accuracy) and np.isnan(result.robust_upper)
    assert "0 examples" in result.summary()
    assert verify.minimal_radius(net, x[:0], y[:0], log=None).n == 0
    assert verify.interval_bounds(net, x[:0], 0.1)[-1][0].shape == (0, 3)


# -- real data ----------------------------------------------------------------------------------
def test_sparse_fc2_on_mnist_agrees_with_pgd_and_theorem2(mnist_dir):
    """A quickly trained sparse fc2 (3 vs 7, l1 then 3% per neuron): exact at the paper's eps
    against PGD, and the minimal radius against Theorem 2, on 40 test digits."""
    x, y = load_binary("mnist", "train", mnist_dir)
    xt, yt = load_binary("mnist", "test", mnist_dir)
    net = fc2(seed=0)
    set_penalty(net, l1=0.1, l2=1e-3, layers=[0])
    fit(net, x[:3000], y[:3000], epochs=3, batch_size=32, lr=1e-3, log=lambda line: None)
    prune(net.weighted[0], 0.03, "neuron")
    xt, yt = xt[:40], yt[:40]
    clf = Classifier(net)
    x_adv = attacks.pgd(clf, xt, yt, 0.25, 0.0125, 40, rng=0)
    result = verify.exact(net, xt, yt, 0.25, x_adv=x_adv, log=None)
    assert result.counts["unknown"] == 0
    assert not np.any((result.status == "robust") & (clf.predict(x_adv) != yt))
    assert_valid_counterexamples(net, xt, yt, 0.25, result)
    radius = verify.minimal_radius(net, xt[:10], yt[:10], log=None)
    correct = radius.status == "exact"
    assert correct.sum() >= 8
    assert np.all(theory.certified_radius(net, xt[:10], yt[:10])[correct] <= radius.radius[correct] + 1e-9)
