"""sparsenet.models: whole networks against float64 finite differences, seeding, input
checks, cnn4's pool-before-ReLU order, the Classifier, and pruning."""
import copy
import pickle
import threading

import numpy as np
import pytest

from helpers import numerical_grad, rel_error, sample
from sparsenet.frontend import Sparsifier
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


def test_pruning_twice_keeps_at_most_rho_of_the_weights_ties_going_to_the_lower_index():
    """The zeros of a first prune tie at the second one's threshold: only as many are kept
    as floor(rho n) allows, the first ones in W's row-major order."""
    layer = Dense(100, 10, rng=0, dtype=np.float64)
    first = prune(layer, 0.1)                             # 100 of 1000 weights left, 900 zeros
    mask = prune(layer, 0.5)
    assert mask.sum() == 500
    assert (mask[first == 1] == 1).all()                 # every nonzero weight is kept
    zeros = np.flatnonzero(first.ravel() == 0)
    np.testing.assert_array_equal(np.flatnonzero((mask * (1 - first)).ravel()), zeros[:400])


def test_per_neuron_pruning_breaks_ties_by_the_lower_index_in_each_neuron():
    layer = Dense(8, 3, rng=0, dtype=np.float64)
    W = layer.params["W"]
    W[:] = np.array([1.0, -2.0, 2.0, -1.0, 2.0, 0.5, -2.0, 0.0])[:, None]    # |w| = 2 four times
    mask = prune(layer, 0.25, "neuron")                                        # K = 2 per neuron
    np.testing.assert_array_equal(np.flatnonzero(mask[:, 0]), [1, 2])
    assert (mask == mask[:, :1]).all()
    prune(layer, 0.5, "neuron")                          # the zeros tie: still K = 4 per neuron
    assert ((layer.params["W"] != 0).sum(axis=0) <= 4).all()
    assert (prune(layer, 0.5, "neuron").sum(axis=0) == 4).all()


# -- one network, one thread ------------------------------------------------------------------
def test_one_classifier_used_from_two_threads_never_mixes_their_passes():
    """Two threads call logits on one Classifier(cnn4()) at the same moment, twenty times: the
    layers' per-call state (conv scratch buffers, what backward needs) would mix the two
    passes, so every call gives the right logits or refuses with RuntimeError; at least
    one call met the other thread's pass and refused."""
    clf = Classifier(cnn4(seed=0))
    rng = np.random.default_rng(0)
    xs = [rng.random((64, 28, 28), dtype=np.float32) for _ in range(2)]
    expected = [clf.logits(x) for x in xs]
    start = threading.Barrier(2)
    results = {0: [], 1: []}

    def work(i):
        for _ in range(20):
            start.wait()
            try:
                results[i].append(clf.logits(xs[i]))
            except RuntimeError as e:
                results[i].append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = 0
    for i in (0, 1):
        for got in results[i]:
            if isinstance(got, RuntimeError):
                assert "cannot be shared between threads" in str(got) and "copy.deepcopy(net)" in str(got)
                refused += 1
            else:
                np.testing.assert_allclose(got, expected[i], rtol=1e-5, atol=1e-5)
    assert refused > 0


def test_a_copy_per_thread_runs_side_by_side():
    net = cnn4(seed=0)
    rng = np.random.default_rng(1)
    xs = [rng.random((64, 28, 28), dtype=np.float32) for _ in range(2)]
    nets = [net, copy.deepcopy(net)]
    expected = [n.forward(x) for n, x in zip(nets, xs)]
    start, got = threading.Barrier(2), [[], []]

    def work(i):
        for _ in range(10):
            start.wait()
            got[i].append(nets[i].forward(xs[i]))
    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in (0, 1):
        assert len(got[i]) == 10
        for logits in got[i]:
            np.testing.assert_allclose(logits, expected[i], rtol=1e-5, atol=1e-5)


def test_a_copy_or_a_pickled_network_has_its_own_lock_and_the_same_function():
    """While this thread runs a pass of net, another thread may run the copy, not net itself."""
    net = fc2(seed=3)
    x = np.random.default_rng(2).random((4, 28, 28), dtype=np.float32)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other.forward(x), net.forward(x))
        outcome = {}

        def another_thread():
            outcome["copy"] = other.forward(x)
            try:
                net.forward(x)
                outcome["net"] = "ran"
            except RuntimeError as e:
                outcome["net"] = e
        with net.exclusive():                  # held by this thread: the copy is free, net is reentrant
            thread = threading.Thread(target=another_thread)
            thread.start()
            thread.join()
            other.forward(x)
            net.forward(x)
        np.testing.assert_array_equal(outcome["copy"], net.forward(x))
        assert isinstance(outcome["net"], RuntimeError) and "another thread" in str(outcome["net"])



@pytest.mark.parametrize("frontend", [None, "cdf97"], ids=["network", "front end"])
def test_vjp_holds_the_network_from_its_forward_to_its_backward(frontend):
    """An attack's step is vjp = forward then backward: another thread's pass between the two
    would hand backward that pass's switches. Here another thread tries a forward pass at
    exactly that moment: it is refused, and the gradient is the right one."""
    clf = Classifier(cnn4(seed=0), Sparsifier() if frontend else None)
    rng = np.random.default_rng(2)
    x, other = rng.random((2, 8, 28, 28), dtype=np.float32)
    seed = rng.standard_normal((8, 10)).astype(np.float32)
    expected = clf.vjp(x, seed)
    outcome = []

    def another_threads_forward():
        try:
            clf.forward(other)
            outcome.append("ran")
        except RuntimeError as e:
            outcome.append(e)
    backward = clf.backward

    def backward_after_another_threads_forward(s):
        t = threading.Thread(target=another_threads_forward)
        t.start()
        t.join()
        return backward(s)
    clf.backward = backward_after_another_threads_forward
    got = clf.vjp(x, seed)
    assert isinstance(outcome[0], RuntimeError), outcome
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
