"""The attack suite on small networks trained here from real data (seconds each)."""
import numpy as np
import pytest

from sparsenet import attacks, data
from sparsenet.frontend import Sparsifier
from sparsenet.linear_model import equivalent_linear, pair_difference
from sparsenet.models import Classifier, cnn4, fc2
from sparsenet.training import fit

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
    """with_first_success = (the plain final iterates, what stop_on_success returns). float64,
    compared to 1e-12: freezing examples changes the batch BLAS sees."""
    _, _, x, y = mnist_small
    net64 = cnn4(dtype=np.float64)
    net64.load_state_dict(cnn.state_dict())
    clf, x = Classifier(net64), x[:50].astype(np.float64)
    attack = getattr(attacks, name)
    kw = dict(rng=0) if name == "pgd" else {}
    final, first = attack(clf, x, y[:50], EPS, EPS / 20, 8, with_first_success=True, **kw)
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
    adv, info = attacks.carlini_wagner_l2(clf, x, y, **kw)
    assert info["success"][ok].mean() >= 0.95
    assert (clf.predict(adv)[info["success"]] != y[info["success"]]).all()
    fgsm_l2 = np.linalg.norm((attacks.fgsm(clf, x, y, EPS) - x).reshape(20, -1), axis=1)
    assert info["l2"][info["success"]].mean() < fgsm_l2.mean()
    np.testing.assert_allclose(info["l2"], np.linalg.norm((adv - x).reshape(20, -1).astype(float), axis=1), rtol=1e-5)


def test_carlini_wagner_does_not_depend_on_batch_size(cnn, mnist_small):
    """Per-example constants and early abort. float64, and compared to 1e-12: BLAS may still
    round a batch of 3 and a batch of 8 differently in the last bit."""
    _, _, x, y = mnist_small
    net64 = cnn4(dtype=np.float64)
    net64.load_state_dict(cnn.state_dict())
    clf, x, y = Classifier(net64), x[:8].astype(np.float64), y[:8]
    kw = dict(initial_const=1.0, binary_steps=3, max_iterations=40)
    _, a = attacks.carlini_wagner_l2(clf, x, y, batch_size=8, **kw)
    _, b = attacks.carlini_wagner_l2(clf, x, y, batch_size=3, **kw)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-15, err_msg=key)


def test_carlini_wagner_on_a_binary_network(binary):
    net, x, y = binary
    adv, info = attacks.carlini_wagner_l2(Classifier(net), x[:10], y[:10], initial_const=1.0, binary_steps=4,
                                          max_iterations=300)
    assert info["success"].mean() >= 0.9


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
