"""sparsenet.models: whole networks against float64 finite differences, seeding, input
checks, cnn4's pool-before-ReLU order, the Classifier, and pruning."""
import numpy as np
import pytest

from helpers import numerical_grad, rel_error, sample
from sparsenet.layers import Conv2D, Dense, MaxPool2D, ReLU, Reshape
from sparsenet.losses import cross_entropy
from sparsenet.models import Classifier, Sequential, build, cnn4, fc2, prune


def randomize_biases(net, rng):
    for layer in net.weighted:
        layer.params["b"][:] = 0.1 * rng.standard_normal(layer.params["b"].shape)


@pytest.mark.parametrize("arch", ["cnn4", "fc2", "fc10"])
def test_whole_network_gradients_match_finite_differences(arch):
    """Input and parameter gradients of f = <seed, y(x)>, relative error < 1e-6."""
    rng = np.random.default_rng(0)
    net = build(arch, seed=0, dtype=np.float64)
    randomize_biases(net, rng)
    x = rng.random((2, 28, 28))
    out = net.forward(x)
    seed = rng.standard_normal(out.shape)
    dx = net.backward(seed)
    f = lambda: float(np.sum(seed * net.forward(x)))
    idx = sample(x.size, 40, rng)
    assert rel_error(dx.reshape(-1)[idx], numerical_grad(f, x, idx)) < 1e-6
    for layer in net.weighted:
        for name, p in layer.params.items():
            idx = sample(p.size, 15, rng)
            assert rel_error(layer.grads[name].reshape(-1)[idx], numerical_grad(f, p, idx)) < 1e-6


def test_fc10_is_fc2_with_ten_logits():
    """fc10: 784 -> 100 ReLU -> 10, seeded like fc2 (whose bits must not move with it)."""
    net = build("fc10", seed=2)
    assert [l.params["W"].shape for l in net.weighted] == [(784, 100), (100, 10)] and net.n_logits == 10
    a, b = fc2(seed=5), fc2(seed=5)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    assert [l.params["W"].shape for l in a.weighted] == [(784, 10), (10, 1)]


def test_float64_end_to_end():
    net = cnn4(seed=0, dtype=np.float64)
    x = np.random.default_rng(0).random((2, 28, 28), dtype=np.float32)
    out = net.forward(x)
    assert out.dtype == np.float64 and net.backward(np.ones_like(out)).dtype == np.float64


def test_same_seed_same_network():
    a, b = cnn4(seed=3), cnn4(seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(cnn4(seed=4).parameters()[0], a.parameters()[0])


@pytest.mark.parametrize("x,match", [
    (np.zeros((2, 28, 27)), r"expects input of shape \(B, 28, 28\)"),
    (np.zeros((2, 784)), r"expects input of shape"),
    (np.full((1, 28, 28), np.nan), "NaN or infinite"),
    (np.zeros((1, 28, 28), dtype=np.int64), "floating point"),
])
def test_network_rejects_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        cnn4().forward(x)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("resnet")


def test_a_zero_logit_predicts_class_0_and_argmax_otherwise():
    from sparsenet.models import predictions
    assert predictions(np.array([[-1e-9], [0.0], [1e-9]])).tolist() == [0, 0, 1]
    assert predictions(np.array([[0.1, 0.5, -2.0], [3.0, 0.0, 1.0]])).tolist() == [1, 0]


def test_classifier_without_front_end_is_the_network():
    net = fc2(seed=0)
    x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    clf = Classifier(net)
    # Batched BLAS may round differently for another batch size: compare to float32 precision.
    np.testing.assert_allclose(clf.logits(x, batch_size=3), net.forward(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.vjp(x, np.ones((4, 1))), net.backward(np.ones((4, 1))), rtol=1e-5, atol=1e-6)


# -- the network -------------------------------------------------------------------------
def relu_then_pool_cnn4(net):
    """cnn4 with each conv block in the other order (ReLU, then pool), same weights."""
    L = net.layers
    order = [L[0], L[1], L[3], L[2], L[4], L[6], L[5]] + L[7:]
    assert [type(l) for l in order[:7]] == [Reshape, Conv2D, ReLU, MaxPool2D, Conv2D, ReLU, MaxPool2D]
    return Sequential(order, arch="cnn4-relu-first", dtype=net.dtype)


def test_cnn4_pooling_before_relu_is_the_same_function_and_gradient():
    net = cnn4(seed=4, dtype=np.float64)
    rng = np.random.default_rng(4)
    for layer in net.weighted:
        layer.params["b"][:] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    x = rng.random((6, 28, 28))
    x[:, :6] = 0                           # a blank band: ties in every pool window there
    y = rng.integers(0, 10, 6)
    logits = net.forward(x)
    _, seed = cross_entropy(logits, y, reduction="sum")
    dx = net.backward(seed)
    grads = [g.copy() for g in net.gradients()]
    other = relu_then_pool_cnn4(net)
    np.testing.assert_allclose(other.forward(x), logits, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(other.backward(seed), dx, rtol=1e-12, atol=1e-12)
    for a, b in zip(other.gradients(), grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_network_backward_without_input_gradient():
    net = cnn4(seed=5, dtype=np.float64)
    x = np.random.default_rng(5).random((3, 28, 28))
    _, seed = cross_entropy(net.forward(x, train=True), np.array([1, 2, 3]))
    assert net.backward(seed, input_grad=False) is None
    grads = [g.copy() for g in net.gradients()]
    net.backward(seed)
    for a, b in zip(net.gradients(), grads):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rho,kept", [(0.03, 30), (0.0305, 30), (0.5, 500), (1.0, 1000), (1e-6, 1)])
def test_prune_keeps_the_largest_magnitudes_of_the_weights_before_pruning(rho, kept):
    """Compared with the weights as they were: the mask keeps floor(rho * size) of them (at
    least one), exactly those largest in magnitude, and the rest are zeroed in place."""
    layer = Dense(100, 10, rng=0, dtype=np.float64)
    W = layer.params["W"]
    W += np.sign(W) * 0.01                               # no weight is 0 before pruning
    before = W.copy()
    mask = prune(layer, rho)
    assert mask.shape == W.shape and set(np.unique(mask)) <= {0.0, 1.0}
    assert mask.sum() == kept
    order = np.argsort(-np.abs(before), axis=None)
    np.testing.assert_array_equal(np.flatnonzero(mask.ravel()), np.sort(order[:kept]))
    np.testing.assert_array_equal(W, before * mask)
    assert layer.params["W"] is W                        # in place


# -- pruning -----------------------------------------------------------------------------------
def test_per_neuron_pruning_keeps_each_neurons_largest_weights():
    layer = Dense(784, 10, rng=0, dtype=np.float64)
    W0 = layer.params["W"].copy()
    mask = prune(layer, 0.03, "neuron")
    K = 23                                             # floor(0.03 * 784)
    W = layer.params["W"]
    assert ((W != 0).sum(axis=0) == K).all() and (mask.sum(axis=0) == K).all()
    for j in range(10):                                 # column j is neuron j's weights w_j
        kept = np.sort(np.abs(W0[:, j])[W[:, j] != 0])
        assert np.array_equal(kept, np.sort(np.abs(W0[:, j]))[-K:])
        np.testing.assert_array_equal(W[W[:, j] != 0, j], W0[W[:, j] != 0, j])   # kept values untouched


def test_global_pruning_differs_from_per_neuron_pruning():
    layer = Dense(784, 10, rng=0, dtype=np.float64)
    layer.params["W"][:, 0] *= 10                       # one neuron with much larger weights
    W0 = layer.params["W"].copy()
    prune(layer, 0.03, "global")
    counts = (layer.params["W"] != 0).sum(axis=0)
    assert counts.sum() == int(0.03 * W0.size) and counts[0] > 23   # the big neuron takes most of the budget
    with pytest.raises(ValueError, match="prune rule"):
        prune(Dense(4, 2, rng=0), 0.5, "random")
