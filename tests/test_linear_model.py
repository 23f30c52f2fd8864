"""Section 3.2: the locally linear model y(x) = W_eq(x) x - b_eq(x), and Section 3.4's
switch flips. (Shared by the theory tests: they import these checks, not copy them.)"""
import numpy as np
import pytest

from sparsenet.linear_model import (equivalent_linear, fc2_equivalent_linear, pair_difference,
                                    propagate_equivalent_linear, switch_flips)
from sparsenet.models import Classifier, build


def net_with_biases(arch, seed=0):
    net = build(arch, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed)
    for layer in net.weighted:
        layer.params["b"][:] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    return net


@pytest.mark.parametrize("arch", ["fc2", "cnn4"])
def test_locally_linear_identity_holds_to_float_precision(arch):
    net = net_with_biases(arch)
    x = np.random.default_rng(1).random((3, 28, 28))
    W_eq, b_eq = equivalent_linear(net, x)
    assert W_eq.shape == (3, net.n_logits, 784) and b_eq.shape == (3, net.n_logits)
    y = net.forward(x)
    np.testing.assert_allclose(np.einsum("bln,bn->bl", W_eq, x.reshape(3, -1)) - b_eq, y,
                               rtol=1e-10, atol=1e-10)
    # W_eq is the Jacobian: compare one row with finite differences along a random direction.
    v = np.random.default_rng(2).standard_normal(x.shape) * 1e-7
    dy = (net.forward(x + v) - net.forward(x - v)) / 2
    np.testing.assert_allclose(np.einsum("bln,bn->bl", W_eq, v.reshape(3, -1)), dy, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("arch", ["fc2", "fc10"])
def test_fc2_closed_form_equals_propagation(arch):
    net = net_with_biases(arch, seed=3)
    x = np.random.default_rng(3).random((5, 28, 28))
    for a, b in zip(fc2_equivalent_linear(net, x), propagate_equivalent_linear(net, x)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("arch", ["fc2", "cnn4"])
def test_small_perturbation_keeps_the_model_exact(arch):
    """No switch flips => y(x + e) = W_eq(x)(x + e) - b_eq(x) exactly (Section 3.3, eq. 1)."""
    net = net_with_biases(arch)
    x = np.random.default_rng(4).random((2, 28, 28))
    e = 1e-9 * np.sign(np.random.default_rng(5).standard_normal(x.shape))
    assert all(f.flipped.sum() == 0 for f in switch_flips(net, x, x + e))
    W_eq, b_eq = equivalent_linear(net, x)
    np.testing.assert_allclose(net.forward(x + e),
                               np.einsum("bln,bn->bl", W_eq, (x + e).reshape(2, -1)) - b_eq,
                               rtol=1e-10, atol=1e-10)


def test_large_perturbation_flips_switches():
    net = net_with_biases("cnn4")
    x = np.random.default_rng(6).random((2, 28, 28))
    flips = switch_flips(net, x, np.clip(x + 0.3 * np.sign(np.random.default_rng(7).standard_normal(x.shape)), 0, 1))
    assert [f.layer for f in flips] == ["pool1", "relu1", "pool2", "relu2", "relu3", "relu4"]
    assert all((f.flipped > 0).all() for f in flips)
    assert flips[0].size == 14 * 14 * 20 and flips[1].size == 14 * 14 * 20  # pool before ReLU (cnn4)


def test_pair_difference_models_logit_differences():
    net = net_with_biases("cnn4")
    x = np.random.default_rng(8).random((4, 28, 28))
    t = np.array([0, 3, 9, 3])
    D, d = pair_difference(*equivalent_linear(net, x), t)
    y = net.forward(x)
    np.testing.assert_allclose(np.einsum("bln,bn->bl", D, x.reshape(4, -1)) - d,
                               y - y[np.arange(4), t][:, None], atol=1e-10)
    assert not D[np.arange(4), t].any()


def test_equivalent_linear_is_batched_independent_of_chunking():
    net = net_with_biases("cnn4")
    x = np.random.default_rng(9).random((7, 28, 28))
    a = propagate_equivalent_linear(net, x, batch_size=10)
    b = propagate_equivalent_linear(net, x, batch_size=1000)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("arch,L", [("fc2", 1), ("fc10", 10), ("cnn4", 10)])
def test_no_images_give_an_empty_locally_linear_model(arch, L):
    """x of shape (0, 28, 28): W_eq (0, L, 784) and b_eq (0, L), before or after a forward pass."""
    net = build(arch, seed=0)
    for model in (net, Classifier(net), net):
        W_eq, b_eq = equivalent_linear(model, np.zeros((0, 28, 28), np.float32))
        assert W_eq.shape == (0, L, 784) and b_eq.shape == (0, L)
        assert W_eq.dtype == b_eq.dtype == net.dtype
        net.forward(np.random.default_rng(0).random((3, 28, 28)))     # an earlier pass changes nothing


def test_equivalent_linear_rejects_bad_input():
    with pytest.raises(ValueError, match="expects input of shape"):
        equivalent_linear(build("cnn4"), np.zeros((2, 28)))
    with pytest.raises(ValueError, match="NaN"):
        equivalent_linear(build("fc2"), np.full((1, 28, 28), np.inf))
