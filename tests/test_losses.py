"""sparsenet.losses: values against their formulas, the two reductions against per-example
losses, gradients against finite differences, weight penalties against their definition,
stability for huge logits, and clear errors."""
import numpy as np
import pytest

from helpers import numerical_grad, rel_error, sample
from sparsenet.layers import Dense
from sparsenet.losses import cross_entropy, sigmoid_cross_entropy, softmax, softmax_cross_entropy, weight_penalty
from sparsenet.models import fc2
from sparsenet.training import set_penalty


CASES = {"softmax": (softmax_cross_entropy, 4), "sigmoid": (sigmoid_cross_entropy, 1)}


def batch(kind, n=5, seed=0):
    rng = np.random.default_rng(seed)
    n_logits = CASES[kind][1]
    return 3 * rng.standard_normal((n, n_logits)), rng.integers(0, max(n_logits, 2), n)


def test_softmax_cross_entropy_is_minus_log_p_true():
    logits, labels = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), np.array([1, 0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss, grad = softmax_cross_entropy(logits, labels, reduction="sum")
    assert loss == pytest.approx(-np.log(p[0, 1]) - np.log(p[1, 0]), rel=1e-12)
    np.testing.assert_allclose(grad, p - np.eye(3)[labels], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(softmax(logits), p, rtol=1e-12)


def test_sigmoid_cross_entropy_is_the_binary_log_loss():
    y, labels = np.array([[2.0], [-1.0], [0.0]]), np.array([1, 1, 0])
    s = 1 / (1 + np.exp(-y[:, 0]))
    loss, grad = sigmoid_cross_entropy(y, labels, reduction="sum")
    assert loss == pytest.approx(-np.log(s[0]) - np.log(s[1]) - np.log(1 - s[2]), rel=1e-12)
    np.testing.assert_allclose(grad[:, 0], s - labels, rtol=1e-12)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_sum_gives_each_example_the_gradient_of_its_own_loss(kind):
    """reduction='sum': the loss is the sum of the per-example losses and row i of the
    gradient is example i's own gradient (what attacks need, whatever the batch)."""
    loss_fn, _ = CASES[kind]
    logits, labels = batch(kind)
    total, grad = loss_fn(logits, labels, reduction="sum")
    alone = [loss_fn(logits[i:i + 1], labels[i:i + 1], reduction="sum") for i in range(len(labels))]
    assert total == pytest.approx(sum(l for l, _ in alone), rel=1e-12)
    np.testing.assert_allclose(grad, np.concatenate([g for _, g in alone]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_mean_is_the_sum_divided_by_the_batch_size(kind):
    loss_fn, _ = CASES[kind]
    logits, labels = batch(kind, n=7, seed=1)
    total, grad_sum = loss_fn(logits, labels, reduction="sum")
    mean, grad_mean = loss_fn(logits, labels)
    assert mean == pytest.approx(total / 7, rel=1e-12)
    np.testing.assert_allclose(grad_mean, grad_sum / 7, rtol=1e-12)


def test_cross_entropy_picks_sigmoid_for_one_logit_and_softmax_otherwise():
    for kind in CASES:
        loss_fn, _ = CASES[kind]
        logits, labels = batch(kind)
        for a, b in zip(cross_entropy(logits, labels, "sum"), loss_fn(logits, labels, "sum")):
            np.testing.assert_array_equal(a, b)


def test_an_empty_batch_has_zero_loss():
    loss, grad = softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, int))
    assert loss == 0.0 and grad.shape == (0, 3)


def test_weight_penalty_value_and_gradient_by_definition():
    """l2 ||W||^2 + l1 ||W||_1 per layer (biases free); gradient 2 l2 W + l1 sgn W."""
    a, b = Dense(3, 2, rng=0, dtype=np.float64), Dense(2, 2, rng=1, dtype=np.float64)
    a.l1, a.l2, b.l1, b.l2 = 0.1, 0.0, 0.0, 0.5
    a.params["b"][:] = b.params["b"][:] = 10.0          # would dominate if penalised
    W, V = a.params["W"], b.params["W"]
    expected = 0.1 * np.abs(W).sum() + 0.5 * (V ** 2).sum()
    assert weight_penalty([a, b], add_grads=False) == pytest.approx(expected, rel=1e-12)
    assert not a.grads["W"].any() and not b.grads["W"].any()
    a.grads["W"][:] = 1.0
    weight_penalty([a, b])
    np.testing.assert_allclose(a.grads["W"], 1.0 + 0.1 * np.sign(W), rtol=1e-12)
    np.testing.assert_allclose(b.grads["W"], 2 * 0.5 * V, rtol=1e-12)
    assert not a.grads["b"].any()


@pytest.mark.parametrize("logits,labels,match", [
    (np.zeros((2, 3)), np.array([0.0, 1.0]), "labels must be integers"),
    (np.zeros((2, 3)), np.array([[0], [1]]), "expected logits"),
    (np.zeros(3), np.array([0]), "expected logits"),
    (np.zeros((2, 3)), np.array([-1, 0]), r"labels must be in \[0, 2\]"),
    (np.zeros((2, 1)), np.array([0, 2]), r"labels must be in \[0, 1\]"),
])
def test_bad_labels_or_shapes_raise(logits, labels, match):
    with pytest.raises(ValueError, match=match):
        cross_entropy(logits, labels)


def test_unknown_reduction_and_sigmoid_with_many_logits_raise():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        softmax_cross_entropy(np.zeros((1, 3)), np.array([0]), reduction="none")
    with pytest.raises(ValueError, match="needs one logit"):
        sigmoid_cross_entropy(np.zeros((1, 3)), np.array([0]))


@pytest.mark.parametrize("n_logits", [1, 10])
def test_cross_entropy_gradient(n_logits):
    rng = np.random.default_rng(1)
    logits = 3 * rng.standard_normal((6, n_logits))
    labels = rng.integers(0, max(n_logits, 2), 6)
    _, grad = cross_entropy(logits, labels)
    f = lambda: cross_entropy(logits, labels)[0]
    idx = np.arange(logits.size)
    assert rel_error(grad.ravel(), numerical_grad(f, logits, idx)) < 1e-7


def test_losses_are_stable_for_huge_logits():
    loss, grad = softmax_cross_entropy(np.array([[1e4, -1e4, 0.0]]), np.array([1]))
    assert np.isfinite(loss) and np.isfinite(grad).all() and loss == pytest.approx(2e4)
    loss, grad = sigmoid_cross_entropy(np.array([[-1e4], [1e4]]), np.array([1, 1]))
    assert np.isfinite(loss) and loss == pytest.approx(5e3)


def test_loss_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must be in"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="expected logits"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0]))


def test_weight_penalty_gradient():
    rng = np.random.default_rng(2)
    net = fc2(seed=0, dtype=np.float64)
    set_penalty(net, l1=0.01, l2=0.001)
    for layer in net.weighted:
        layer.grads["W"][:] = 0
    weight_penalty(net.weighted)
    W = net.weighted[0].params["W"]
    idx = sample(W.size, 20, rng)
    num = numerical_grad(lambda: weight_penalty(net.weighted, add_grads=False), W, idx)
    assert rel_error(net.weighted[0].grads["W"].reshape(-1)[idx], num) < 1e-6


def test_confident_gradients_do_not_round_to_zero():
    """p_t - 1 must stay -sum_{k != t} p_k even when p_t rounds to 1 in float32."""
    logits = np.array([[30.0, 0.0, 5.0]], dtype=np.float32)
    _, grad = softmax_cross_entropy(logits, np.array([0]), reduction="sum")
    assert grad[0, 0] < 0 and grad[0, 0] == pytest.approx(-grad[0, 1:].sum(), rel=1e-6)
    _, grad = sigmoid_cross_entropy(np.array([[30.0]], dtype=np.float32), np.array([1]), reduction="sum")
    assert grad[0, 0] < 0 and grad[0, 0] == pytest.approx(-np.exp(-30.0), rel=1e-5)
