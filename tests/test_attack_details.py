"""Details of the paper's attacks that a plausible bug would change (issue 13): MI-FGSM's
normalisation step by step, the one-logit margin, where the white-box locally linear
attack takes w_eq, evaluate's budget check on a mixed batch and its argument checks, and
C&W's gradient on a one-logit network."""
import numpy as np
import pytest

from sparsenet import attacks
from sparsenet.frontend import Sparsifier
from sparsenet.layers import Dense, Flatten, ReLU
from sparsenet.linear_model import equivalent_linear
from sparsenet.models import Classifier, Sequential, fc2


def mlp(seed=0):
    net = Sequential([Flatten(), Dense(784, 12, rng=seed, dtype=np.float64), ReLU(),
                      Dense(12, 10, rng=seed + 1, dtype=np.float64)], arch="mlp", dtype=np.float64)
    net.weighted[0].params["b"][:] = 0.05
    return net


def test_mi_fgsm_three_steps_by_hand():
    """g_{k+1} = μ g_k + ∇J / ||∇J||_1 (per example), x_{k+1} = Π(x_k + δ sgn(g_{k+1}))."""
    clf = Classifier(mlp(1))
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
    clf = Classifier(mlp(4))
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
    clf = Classifier(mlp(5))
    x = np.full((3, 28, 28), 0.5)
    x2, y2, a2 = change(x, clf.predict(x), x.copy())
    with pytest.raises(ValueError, match=match):
        attacks.evaluate(clf, x2, y2, a2, eps=0.1)
    with pytest.raises(ValueError, match="batch_size"):
        attacks.evaluate(clf, x, clf.predict(x), x, batch_size=0)


@pytest.mark.parametrize("attack", ["fgsm", "ifgsm", "pgd", "mi_fgsm", "locally_linear", "apgd", "square"])
def test_every_attack_rejects_eps_none(attack):
    clf = Classifier(mlp(6))
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
