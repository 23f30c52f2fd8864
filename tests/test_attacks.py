"""sparsenet.attacks: the gradient attacks (FGSM, iterative FGSM, PGD, MI-FGSM), the locally
linear attacks, Carlini & Wagner, and ``evaluate``: on small networks trained here from real
data, and step by step on small float64 networks, where a plausible bug
(a wrong normalisation, margin, point of linearisation or budget check) changes a number.
What every attack shares (budget, range, batch-size independence, ``only``, eps checks) is
checked here too; APGD, the Square Attack and the suite have their own files."""
import numpy as np
import pytest

from helpers import mlp, own_labels
from sparsenet import attacks, data
from sparsenet.frontend import Sparsifier
from sparsenet.layers import Dense, Flatten, ReLU
from sparsenet.linear_model import equivalent_linear, pair_difference
from sparsenet.models import Classifier, Sequential, cnn4, fc2
from sparsenet.training import fit


# -- step by step, on small float64 networks --------------------------------------------------
def plain_mlp(seed=0):
    """784 -> 12 ReLU -> 10 in float64, first-layer biases 0.05, second-layer biases 0."""
    net = Sequential([Flatten(), Dense(784, 12, rng=seed, dtype=np.float64), ReLU(),
                      Dense(12, 10, rng=seed + 1, dtype=np.float64)], arch="mlp", dtype=np.float64)
    net.weighted[0].params["b"][:] = 0.05
    return net


def test_mi_fgsm_three_steps_by_hand():
    """g_{k+1} = μ g_k + ∇J / ||∇J||_1 (per example), x_{k+1} = Π(x_k + δ sgn(g_{k+1}))."""
    clf = Classifier(plain_mlp(1))
    rng = np.random.default_rng(1)
    x, y = rng.random((3, 28, 28)), np.array([1, 4, 7])
    eps, delta, mu = 0.1, 0.03, 0.7
    got = attacks.mi_fgsm(clf, x, y, eps, delta, 3, mu=mu)
    xa, acc = x.copy(), np.zeros_like(x)
    for _ in range(3):
        _, g = attacks.loss_gradient(clf, xa, y)
        acc = mu * acc + g / np.abs(g).sum(axis=(1, 2), keepdims=True)
        xa = np.clip(np.clip(xa + delta * np.sign(acc), x - eps, x + eps), 0, 1)
    np.testing.assert_allclose(got, xa, rtol=0, atol=1e-12)
    # the l1 normalisation is per example: scaling one example's gradient changes nothing
    assert not np.allclose(got, attacks.mi_fgsm(clf, x, y, eps, delta, 3, mu=0.0))   # μ matters


def test_mi_fgsm_momentum_normalises_each_example_by_its_l1_norm():
    from sparsenet.attacks.gradient import momentum_step
    acc = np.array([[[1.0, -1.0]], [[0.0, 0.0]]])
    grad = np.array([[[3.0, -1.0]], [[0.0, 0.0]]])
    # example 0: 0.5 * (1, -1) + (3, -1) / 4; example 1: a zero gradient adds nothing
    np.testing.assert_allclose(momentum_step(acc, grad, 0.5), [[[1.25, -0.75]], [[0.0, 0.0]]])


def test_margin_of_a_one_logit_network():
    """One logit y: class 1 when y > 0. The margin (> 0 iff misclassified) is -y for label 1
    and y for label 0: the logit pushed towards the wrong class."""
    logits = np.array([[2.0], [-3.0], [0.5], [-0.25]])
    labels = np.array([1, 1, 0, 0])
    np.testing.assert_array_equal(attacks.margin(logits, labels), [-2.0, 3.0, 0.5, -0.25])
    two = np.array([[0.0, 2.0], [0.0, -3.0]])                                # the same as two logits (0, y)
    np.testing.assert_array_equal(attacks.margin(two, labels[:2]), [-2.0, 3.0])


def test_white_box_locally_linear_takes_w_eq_at_the_front_ends_output():
    """A_W(x, ε) = ε sgn(P_K(w_eq(F(x)), x)): the network's linear model at what it sees (the
    front end's output F(x)), carried back through the front end with the support of x."""
    net = fc2(seed=3, dtype=np.float64)
    front = Sparsifier()
    clf = Classifier(net, front)
    rng = np.random.default_rng(3)
    x = rng.random((4, 28, 28)) * 0.5 + 0.25
    y = np.array([0, 1, 0, 1])
    W_eq, _ = equivalent_linear(net, front(x))                               # at F(x), not at x
    direction = W_eq[:, 0] * np.where(y == 1, -1, 1)[:, None]
    expected = np.clip(x + 0.1 * np.sign(front.project(direction, x)).reshape(x.shape), 0, 1)
    np.testing.assert_array_equal(attacks.locally_linear(clf, x, y, 0.1, mode="white"), expected)
    W_at_x, _ = equivalent_linear(net, x)                                    # the wrong point differs here
    wrong = np.clip(x + 0.1 * np.sign(front.project(W_at_x[:, 0] * np.where(y == 1, -1, 1)[:, None], x))
                    .reshape(x.shape), 0, 1)
    assert not np.array_equal(wrong, expected)


def test_evaluate_checks_every_example_against_the_budget():
    clf = Classifier(plain_mlp(4))
    x = np.full((4, 28, 28), 0.5)
    y = clf.predict(x)
    adv = x.copy()
    adv[:3] += 0.1                                   # three examples exactly at ε
    assert attacks.evaluate(clf, x, y, adv, eps=0.1)["mean_linf"] == pytest.approx(0.075)
    adv[2, 5, 5] += 0.01                             # one pixel of one example outside the ball
    with pytest.raises(ValueError, match="ℓ∞ ball"):
        attacks.evaluate(clf, x, y, adv, eps=0.1)


@pytest.mark.parametrize("change,match", [
    (lambda x, y, a: (x, y[:-1], a), "labels"),
    (lambda x, y, a: (x, y.astype(float), a), "labels"),
    (lambda x, y, a: (x, y + 10, a), "labels"),
    (lambda x, y, a: (x, y, a[:, :20]), "shape"),
    (lambda x, y, a: (x, y, (a * 255).astype(np.uint8)), "floating"),
    (lambda x, y, a: (x[:0], y[:0], a[:0]), "nothing to evaluate"),
])
def test_evaluate_rejects_bad_arguments(change, match):
    clf = Classifier(plain_mlp(5))
    x = np.full((3, 28, 28), 0.5)
    x2, y2, a2 = change(x, clf.predict(x), x.copy())
    with pytest.raises(ValueError, match=match):
        attacks.evaluate(clf, x2, y2, a2, eps=0.1)
    with pytest.raises(ValueError, match="batch_size"):
        attacks.evaluate(clf, x, clf.predict(x), x, batch_size=0)


@pytest.mark.parametrize("attack", ["fgsm", "ifgsm", "pgd", "mi_fgsm", "locally_linear", "apgd", "square"])
def test_every_attack_rejects_eps_none(attack):
    clf = Classifier(plain_mlp(6))
    x = np.full((2, 28, 28), 0.5)
    y = clf.predict(x)
    call = {"fgsm": lambda: attacks.fgsm(clf, x, y, None),
            "ifgsm": lambda: attacks.iterative_fgsm(clf, x, y, None, 0.01, 2),
            "pgd": lambda: attacks.pgd(clf, x, y, None, 0.01, 2),
            "mi_fgsm": lambda: attacks.mi_fgsm(clf, x, y, None, 0.01, 2),
            "locally_linear": lambda: attacks.locally_linear(clf, x, y, None),
            "apgd": lambda: attacks.apgd(clf, x, y, None),
            "square": lambda: attacks.square(clf, x, y, None)}[attack]
    with pytest.raises(ValueError, match="eps .*required, got None"):
        call()


def test_carlini_wagner_gradient_on_a_one_logit_network():
    """On fc2 the objective's logit term is c * max(z_t - z_other, -κ) with the two logits
    (0, y); its derivative in y is c (label 1) or -c (label 0), not twice that."""
    net = fc2(seed=7, dtype=np.float64)
    clf = Classifier(net)
    seen = []
    backward = clf.backward
    clf.backward = lambda seed: seen.append(np.array(seed)) or backward(seed)
    # One image on each side of the boundary, each correctly labelled (the hinge is active),
    # so both branches, label 1 and label 0, are checked.
    pool = np.random.default_rng(3).uniform(0, 1, (40, 28, 28))
    z = clf.forward(pool)[:, 0]
    x = pool[[np.argmax(z), np.argmin(z)]]
    assert z.max() > 0 > z.min()
    y = np.array([1, 0])
    attacks.carlini_wagner_l2(clf, x, y, initial_const=0.5, binary_steps=1, max_iterations=1, abort_early=False)
    np.testing.assert_allclose(seen[0][:, 0], np.where(y == 1, 0.5, -0.5))


# -- the gradient attacks ------------------------------------------------------------------------
def test_stop_on_success_never_evaluates_a_fooled_example_again():
    """``stop_on_success`` freezes an example at its first misclassified iterate: it costs
    no further forward or backward pass (were it not frozen, each step would evaluate it again only to find it still fooled:
    the output would be the same, only the work differs, so the work is what is counted)."""
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


# -- Carlini & Wagner ----------------------------------------------------------------------------------
def test_carlini_wagner_search_over_c_multiplies_by_10_then_bisects():
    """Without a success c grows x10 per binary step (seen in the logit gradient, ±c on fc2's
    one logit); once every step succeeds, c is bisected towards 0 and the smallest successful
    c is reported (a search doubling c would try 0.5, 1, 2)."""
    net = fc2(seed=7, dtype=np.float64)
    clf = Classifier(net)
    seeds = []
    backward = clf.backward
    clf.backward = lambda seed: seeds.append(np.array(seed)) or backward(seed)
    x = np.full((1, 28, 28), 0.5)
    y = (clf.forward(x)[:, 0] > 0).astype(int)              # correct: one Adam step cannot change that here
    info = attacks.carlini_wagner_l2_details(clf, x, y, initial_const=0.5, binary_steps=3, max_iterations=1,
                                        abort_early=False)
    assert not info.success[0]
    np.testing.assert_allclose([abs(s[0, 0]) for s in seeds], [0.5, 5.0, 50.0])
    # Misclassified from the start: every step succeeds, c = 0.5, then (0 + 0.5)/2, then 0.125.
    info = attacks.carlini_wagner_l2_details(clf, x, 1 - y, initial_const=0.5, binary_steps=3, max_iterations=1,
                                        abort_early=False)
    assert info.success[0] and info.const[0] == pytest.approx(0.125)


def test_carlini_wagner_returns_the_smallest_successful_point_it_evaluated():
    """Every point C&W evaluates goes through ``forward``: of those misclassified, each
    example returns the one nearest to it in ℓ2, not the last one found."""
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
    info = attacks.carlini_wagner_l2_details(clf, x, y, initial_const=0.1, binary_steps=4, max_iterations=60,
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
    assert info.success.all() and (n_success > 1).all()
    np.testing.assert_allclose(info.l2, np.sqrt(best), rtol=1e-9)


# -- behaviour every attack shares --------------------------------------------------------
def run_all_new(clf, x, y, eps, batch_size):
    multi = clf.n_logits >= 4
    out = {"apgd-ce": attacks.apgd(clf, x, y, eps, iterations=12, rng=0, batch_size=batch_size),
           "apgd-second": attacks.apgd(clf, x, y, eps, iterations=12, loss="dlr" if multi else "margin", rng=0,
                                       batch_size=batch_size),
           "square": attacks.square(clf, x, y, eps, queries=60, rng=0, batch_size=batch_size),
           "apgd-units": attacks.apgd_units(clf, x, y, eps, iterations=4, batch_size=batch_size, log=None)}
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


def test_with_gradient_swaps_only_the_front_end_gradient():
    net = mlp(17)
    clf = Classifier(net, Sparsifier())
    st = attacks.with_gradient(clf, "straight-through")
    assert st.net is net and st.frontend.gradient == "straight-through" and clf.frontend.gradient == "exact"
    plain = Classifier(net)
    assert attacks.with_gradient(plain, "bpda") is plain


# -- on small networks trained here from real MNIST ------------------------------------------
EPS = 0.25


quiet = lambda msg: None  # noqa: E731


@pytest.fixture(scope="module")
def mnist_small(mnist_dir):
    x, y = data.load_dataset("mnist", "train", mnist_dir)
    xt, yt = data.load_dataset("mnist", "test", mnist_dir)
    return x[:5000], y[:5000], xt[:100].copy(), yt[:100].copy()


@pytest.fixture(scope="module")
def cnn(mnist_small):
    x, y, _, _ = mnist_small
    net = cnn4(seed=0)
    fit(net, x, y, epochs=1, batch_size=64, optimizer="sgd", lr=0.05, seed=0, log=quiet)
    return net


@pytest.fixture(scope="module")
def binary(mnist_dir):
    x, y = data.load_binary("mnist", "train", mnist_dir)
    xt, yt = data.load_binary("mnist", "test", mnist_dir)
    net = fc2(seed=0)
    fit(net, x[:4000], y[:4000], epochs=3, batch_size=32, seed=0, log=quiet)
    return net, xt[:200].copy(), yt[:200].copy()


def linf_attacks(clf):
    """Every l-infinity attack, as callables (x, y, batch_size) -> x_adv."""
    return {
        "ll-semi-white": lambda x, y, bs: attacks.locally_linear(clf, x, y, EPS, batch_size=bs),
        "ll-white": lambda x, y, bs: attacks.locally_linear(clf, x, y, EPS, mode="white", batch_size=bs),
        "ll-iterative": lambda x, y, bs: attacks.locally_linear(clf, x, y, EPS, iterations=3, delta=EPS / 3,
                                                                batch_size=bs),
        "fgsm": lambda x, y, bs: attacks.fgsm(clf, x, y, EPS, batch_size=bs),
        "ifgsm": lambda x, y, bs: attacks.iterative_fgsm(clf, x, y, EPS, EPS / 5, 5, batch_size=bs),
        "pgd": lambda x, y, bs: attacks.pgd(clf, x, y, EPS, EPS / 5, 5, rng=3, batch_size=bs),
        "pgd-restarts": lambda x, y, bs: attacks.pgd(clf, x, y, EPS, EPS / 5, 3, restarts=2, rng=3, batch_size=bs),
        "mifgsm": lambda x, y, bs: attacks.mi_fgsm(clf, x, y, EPS, EPS / 5, 5, batch_size=bs),
        "ifgsm-stop": lambda x, y, bs: attacks.iterative_fgsm(clf, x, y, EPS, EPS / 5, 5, stop_on_success=True,
                                                              batch_size=bs),
    }


@pytest.mark.parametrize("defended", [False, True])
def test_linf_attacks_respect_budget_range_seed_input_and_batch_size(cnn, mnist_small, defended):
    _, _, x, y = mnist_small
    x, y = x[:24], y[:24]
    clf = Classifier(cnn, Sparsifier() if defended else None)
    before = x.copy()
    for name, attack in linf_attacks(clf).items():
        a = attack(x, y, 24)
        assert a.dtype == x.dtype and a.shape == x.shape, name
        assert np.abs(a - x).max() <= EPS + 1e-6 and a.min() >= 0 and a.max() <= 1, name
        np.testing.assert_array_equal(x, before, err_msg=f"{name} modified its input")
        np.testing.assert_array_equal(attack(x, y, 24), a, err_msg=f"{name} is not deterministic")
        attacks.evaluate(clf, x, y, a, eps=EPS)   # re-checks budget and range independently


def test_linf_attacks_do_not_depend_on_batch_size(cnn, mnist_small):
    """In float64, so BLAS rounding (which differs between batch shapes) cannot flip a sign."""
    _, _, x, y = mnist_small
    net64 = cnn4(dtype=np.float64)
    net64.load_state_dict(cnn.state_dict())
    x, y = x[:12].astype(np.float64), y[:12]
    for defended in (False, True):
        clf = Classifier(net64, Sparsifier() if defended else None)
        for name, attack in linf_attacks(clf).items():
            np.testing.assert_array_equal(attack(x, y, 5), attack(x, y, 12), err_msg=name)


def test_fgsm_equals_semi_white_box_for_binary(binary):
    """Section 3.5's remark: for a binary network, FGSM = A_SW(x, ε) exactly."""
    net, x, y = binary
    clf = Classifier(net)
    np.testing.assert_array_equal(attacks.fgsm(clf, x, y, EPS), attacks.locally_linear(clf, x, y, EPS))


def test_multiclass_locally_linear_never_worse_than_any_candidate(cnn, mnist_small):
    _, _, x, y = mnist_small
    clf = Classifier(cnn)
    adv = attacks.locally_linear(clf, x, y, EPS)
    chosen = attacks.margin(clf.forward(adv), y)
    D, _ = pair_difference(*equivalent_linear(cnn, x), y)
    for i in range(10):
        cand = np.clip(x + EPS * np.sign(D[:, i]).reshape(x.shape), 0, 1).astype(x.dtype)
        margin = attacks.margin(clf.forward(cand), y)
        others = y != i
        assert (chosen[others] >= margin[others] - 1e-4).all()


def test_iterative_attacks_are_stronger_than_fgsm(cnn, mnist_small):
    _, _, x, y = mnist_small
    clf = Classifier(cnn)
    acc = lambda a: np.mean(clf.predict(a) == y)
    fgsm = acc(attacks.fgsm(clf, x, y, EPS))
    for a in (attacks.iterative_fgsm(clf, x, y, EPS, EPS / 10, 20),
              attacks.pgd(clf, x, y, EPS, EPS / 10, 20, rng=0),
              attacks.mi_fgsm(clf, x, y, EPS, EPS / 10, 20)):
        assert acc(a) < fgsm and acc(a) < 0.05


def test_stop_on_success_is_never_weaker(cnn, mnist_small):
    _, _, x, y = mnist_small
    clf = Classifier(cnn)
    full = attacks.iterative_fgsm(clf, x, y, EPS, EPS / 20, 8)
    stop = attacks.iterative_fgsm(clf, x, y, EPS, EPS / 20, 8, stop_on_success=True)
    assert np.mean(clf.predict(stop) == y) <= np.mean(clf.predict(full) == y)


@pytest.mark.parametrize("name", ["iterative_fgsm", "pgd", "mi_fgsm"])
def test_one_run_gives_the_final_and_the_first_misclassified_iterates(cnn, mnist_small, name):
    """iterates = (the plain final iterates, what stop_on_success returns). float64,
    compared to 1e-12: freezing examples changes the batch BLAS sees."""
    _, _, x, y = mnist_small
    net64 = cnn4(dtype=np.float64)
    net64.load_state_dict(cnn.state_dict())
    clf, x = Classifier(net64), x[:50].astype(np.float64)
    attack = getattr(attacks, name)
    kw = dict(rng=0) if name == "pgd" else {}
    run = attacks.iterates(attack, clf, x, y[:50], EPS, EPS / 20, 8, **kw)
    final, first = run.final, run.first
    np.testing.assert_allclose(final, attack(clf, x, y[:50], EPS, EPS / 20, 8, **kw), atol=1e-12)
    np.testing.assert_allclose(first, attack(clf, x, y[:50], EPS, EPS / 20, 8, stop_on_success=True, **kw),
                               atol=1e-12)
    # Where the two differ, the first iterate fools the network; where it never did, they agree.
    differs = (first != final).reshape(50, -1).any(axis=1)
    fooled_first = clf.predict(first) != y[:50]
    assert differs.any() and fooled_first[differs].all()
    np.testing.assert_array_equal(first[~fooled_first], final[~fooled_first])


def test_carlini_wagner_finds_small_adversarials(cnn, mnist_small):
    _, _, x, y = mnist_small
    x, y = x[:20], y[:20]
    clf = Classifier(cnn)
    ok = clf.predict(x) == y
    # 300 iterations, not thousands: lr 0.05 lets Adam move the saturated (0 or 1) pixels, whose
    # w = arctanh(±(1 - 1e-6)) sits 7 units out, within budget (at lr 0.01 one example of 19 fails).
    kw = dict(initial_const=1.0, binary_steps=4, max_iterations=300, lr=0.05)
    info = attacks.carlini_wagner_l2_details(clf, x, y, **kw)
    adv = info.x_adv
    np.testing.assert_array_equal(adv, attacks.carlini_wagner_l2(clf, x, y, **kw))   # the same search
    assert info.success[ok].mean() >= 0.95
    assert (clf.predict(adv)[info.success] != y[info.success]).all()
    fgsm_l2 = np.linalg.norm((attacks.fgsm(clf, x, y, EPS) - x).reshape(20, -1), axis=1)
    assert info.l2[info.success].mean() < fgsm_l2.mean()
    np.testing.assert_allclose(info.l2, np.linalg.norm((adv - x).reshape(20, -1).astype(float), axis=1), rtol=1e-5)


def test_carlini_wagner_does_not_depend_on_batch_size(cnn, mnist_small):
    """Per-example constants and early abort. float64, and compared to 1e-12: BLAS may still
    round a batch of 3 and a batch of 8 differently in the last bit."""
    _, _, x, y = mnist_small
    net64 = cnn4(dtype=np.float64)
    net64.load_state_dict(cnn.state_dict())
    clf, x, y = Classifier(net64), x[:8].astype(np.float64), y[:8]
    kw = dict(initial_const=1.0, binary_steps=3, max_iterations=40)
    a = attacks.carlini_wagner_l2_details(clf, x, y, batch_size=8, **kw)
    b = attacks.carlini_wagner_l2_details(clf, x, y, batch_size=3, **kw)
    for key in ("x_adv", "success", "l2", "linf", "const"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12, atol=1e-15, err_msg=key)


def test_carlini_wagner_on_a_binary_network(binary):
    net, x, y = binary
    info = attacks.carlini_wagner_l2_details(Classifier(net), x[:10], y[:10], initial_const=1.0, binary_steps=4,
                                          max_iterations=300)
    assert info.success.mean() >= 0.9


def test_attacks_get_the_front_ends_exact_gradient_by_default(cnn, mnist_small):
    """Classifier(net, Sparsifier()).vjp is the network's input gradient at F(x) carried back by
    the front end's exact VJP; with gradient='bpda' it is that gradient unchanged."""
    _, _, x, _ = mnist_small
    x = x[:8].astype(np.float64)
    net64 = cnn4(dtype=np.float64)
    net64.load_state_dict(cnn.state_dict())
    seed = np.random.default_rng(0).standard_normal((8, 10))
    front = Sparsifier()
    net64.forward(front(x))
    at_front = net64.backward(seed, param_grads=False)
    np.testing.assert_allclose(Classifier(net64, Sparsifier()).vjp(x, seed), front.vjp(x, at_front), atol=1e-12)
    np.testing.assert_allclose(Classifier(net64, Sparsifier(gradient="bpda")).vjp(x, seed), at_front, atol=1e-12)


class ThresholdClassifier:
    """Predicts 1 where the first pixel exceeds 0.5, else 0 (for evaluate's bookkeeping)."""
    n_logits = 1

    def predict(self, x, batch_size=1000):
        return (np.asarray(x)[:, 0, 0] > 0.5).astype(np.int64)


def test_evaluate_counts_robust_accuracy_over_all_and_success_over_the_correct_ones():
    x = np.full((4, 28, 28), 0.4)
    x[:2, 0, 0] = 0.7                                   # predictions: 1, 1, 0, 0
    y = np.array([1, 1, 0, 1])                          # the last one is misclassified when clean
    x_adv = x.copy()
    x_adv[0, 0, 0] = 0.45                               # example 0: fooled (1 -> 0)
    x_adv[2, 5, 5] = 0.5                                # example 2: moved, still correct
    r = attacks.evaluate(ThresholdClassifier(), x, y, x_adv, eps=0.3)
    assert r["n"] == 4 and r["clean_accuracy"] == 0.75
    assert r["robust_accuracy"] == 0.5                  # examples 1 and 2, over all 4
    assert r["success_rate"] == pytest.approx(1 / 3)    # example 0, over the 3 correct ones
    assert r["mean_linf"] == pytest.approx((0.25 + 0.1) / 4)
    assert r["mean_l2"] == pytest.approx((0.25 + 0.1) / 4)


def test_robust_means_correct_clean_and_under_attack_adversarial_accuracy_is_the_papers_metric():
    """An attack that moves a misclassified image into its class does not make it robust
    (AutoAttack's definition); the plain accuracy on the adversarial images, the paper's
    tables' metric, counts it."""
    x = np.full((4, 28, 28), 0.4)
    x[:2, 0, 0] = 0.7                                   # predictions: 1, 1, 0, 0
    y = np.array([1, 1, 0, 1])                          # example 3 is misclassified when clean
    x_adv = x.copy()
    x_adv[0, 0, 0] = 0.45                               # example 0: fooled
    x_adv[3, 0, 0] = 0.6                                # example 3: moved into its class
    r = attacks.evaluate(ThresholdClassifier(), x, y, x_adv, eps=0.3)
    assert r["robust_accuracy"] == 0.5                  # examples 1 and 2
    assert r["adversarial_accuracy"] == 0.75            # examples 1, 2 and 3
    np.testing.assert_array_equal(attacks.robust(r), [False, True, True, False])
    np.testing.assert_array_equal(r["clean"], [True, True, True, False])
    np.testing.assert_array_equal(r["correct"], [False, True, True, True])


def test_evaluate_rejects_out_of_budget_or_range(cnn, mnist_small):
    _, _, x, y = mnist_small
    clf = Classifier(cnn)
    with pytest.raises(ValueError, match="ℓ∞ ball"):
        attacks.evaluate(clf, x, y, np.clip(x + 0.3, 0, 1), eps=EPS)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attacks.evaluate(clf, x, y, x + 2.0)
    r = attacks.evaluate(clf, x, y, x)
    assert r["clean_accuracy"] == r["robust_accuracy"] and r["success_rate"] == 0.0


@pytest.mark.parametrize("call,match", [
    (lambda c, x, y: attacks.fgsm(c, x, y, -0.1), "eps must be (a finite number )?>= 0"),
    (lambda c, x, y: attacks.pgd(c, x, y, 0.1, 0.0, 5), "delta"),
    (lambda c, x, y: attacks.iterative_fgsm(c, x, y, 0.1, 0.01, 0), "iterations"),
    (lambda c, x, y: attacks.fgsm(c, x, y + 10, 0.1), "labels must be"),
    (lambda c, x, y: attacks.fgsm(c, x * 3, y, 0.1), r"\[0, 1\]"),
    (lambda c, x, y: attacks.fgsm(c, x, y[:-1], 0.1), "to match x"),
    (lambda c, x, y: attacks.fgsm(c, x.reshape(len(x), -1), y, 0.1), "x must have shape"),
    (lambda c, x, y: attacks.locally_linear(c, x, y, 0.1, mode="black"), "mode must be"),
    (lambda c, x, y: attacks.locally_linear(c, x, y, 0.1, iterations=3), "needs a step size"),
])
def test_bad_input_raises_value_error(call, match, cnn, mnist_small):
    _, _, x, y = mnist_small
    with pytest.raises(ValueError, match=match):
        call(Classifier(cnn), x[:4], y[:4])


def test_carlini_wagner_breaks_label_0_examples_of_a_one_logit_network():
    """The label-0 branch of C&W on a one-logit network (the logit must be pushed up, seed -c
    on it): every correctly classified label-0 image is broken, by a small l2 step, and the
    re-predicted adversarial is class 1."""
    net = fc2(seed=7, dtype=np.float64)
    clf = Classifier(net)
    pool = np.random.default_rng(3).uniform(0, 1, (200, 28, 28))
    logits = clf.forward(pool)[:, 0]
    x = pool[logits < 0][:4]
    assert len(x) == 4 and len({im.tobytes() for im in x}) == 4          # four distinct label-0 images
    y = np.zeros(4, np.int64)
    info = attacks.carlini_wagner_l2_details(clf, x, y, initial_const=1.0, binary_steps=3, max_iterations=200)
    assert info.success.all()
    assert (clf.predict(info.x_adv) == 1).all()
    assert (info.l2 < 5).all()


# -- APGD from unit starts ---------------------------------------------------------------------
def hidden_unit_network(eps):
    """fc2 built so that a gradient attack cannot win: at x = 0.5 everywhere, unit 0 (output
    weight +1) keeps the logit at 0.3 > 0 and an ε-step lowers it by at most ε = 0.1; unit 1
    (output weight -10) is off, ``margin`` below its threshold, and switched on only by
    raising all of its 392 pixels together, which no random start comes close to."""
    net = fc2(seed=0, dtype=np.float64)
    first, last = net.weighted
    first.params["W"][:] = 0.0
    first.params["b"][:] = 0.0
    last.params["W"][:] = 0.0
    first.params["W"][:392, 0] = 1 / 392
    first.params["W"][392:, 1] = 1.0
    first.params["b"][1] = -(392 * 0.5 + 300 * eps)
    last.params["W"][0, 0], last.params["W"][1, 0] = 1.0, -10.0
    last.params["b"][:] = -0.2
    return Classifier(net)


def test_apgd_units_switches_on_the_unit_a_gradient_attack_cannot_see():
    eps = 0.1
    clf = hidden_unit_network(eps)
    x = np.full((3, 28, 28), 0.5)
    y = np.ones(3, np.int64)
    assert (clf.predict(x) == 1).all()
    for restarts in (1, 5):      # random starts on the ε-sphere leave unit 1 off: robust
        adv = attacks.apgd(clf, x, y, eps, loss="margin", restarts=restarts, rng=0, log=None)
        assert attacks.robust(attacks.evaluate(clf, x, y, adv, eps=eps)).all()
    adv = attacks.apgd_units(clf, x, y, eps, log=None)
    assert not attacks.robust(attacks.evaluate(clf, x, y, adv, eps=eps)).any()
    assert np.abs(adv - x).max() <= eps + 1e-12


def test_unit_starts_push_each_unit_up_then_down_within_the_ball_and_the_box():
    W = np.zeros((784, 2))
    W[0, 0], W[1, 1] = 2.0, -3.0
    x = np.stack([np.full((28, 28), 0.95), np.full((28, 28), 0.3)])
    starts = list(attacks.unit_starts(x, W, 0.1))
    assert len(starts) == 4 and all(s.shape == x.shape for s in starts)
    up0, down0, up1, down1 = (s.reshape(2, -1) for s in starts)
    assert up0[0, 0] == 1.0 and down0[0, 0] == pytest.approx(0.85)      # clipped to [0, 1]
    assert up1[0, 1] == pytest.approx(0.85) and down1[0, 1] == 1.0       # W < 0: up lowers the pixel
    assert (up0[0, 2:] == 0.95).all()                                    # sgn 0: untouched
    assert up0[1, 0] == pytest.approx(0.4) and down1[1, 1] == pytest.approx(0.4)   # each image its own corner


def test_apgd_units_needs_a_dense_first_layer_and_is_in_the_default_suite_only_then():
    x = np.full((2, 28, 28), 0.5)
    with pytest.raises(ValueError, match="first layer with weights is Dense.*Conv2D"):
        attacks.apgd_units(Classifier(cnn4(seed=0)), x, np.zeros(2, np.int64), 0.1, log=None)
    with pytest.raises(ValueError, match="loss"):
        attacks.apgd_units(Classifier(fc2(seed=0)), x, np.zeros(2, np.int64), 0.1, loss="dlr-targeted", log=None)
    assert "apgd-units/exact" in attacks.default_names(Classifier(fc2(seed=0)))
    assert "apgd-units/exact" not in attacks.default_names(Classifier(cnn4(seed=0)))
    names = [a.name for a in attacks.default_suite(Classifier(fc2(seed=0)))]
    assert names.index("apgd-units/exact") == len(names) - 2 and names[-1] == "square"
    with pytest.raises(ValueError, match="rng"):        # deterministic: it takes no seed
        attacks.make("apgd-units", rng=0)
