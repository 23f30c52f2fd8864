"""sparsenet.layers: every layer's backward pass against float64 finite differences, the
switches of ReLU and max-pool (Section 3.2), clear errors for bad input, and the fast paths
(blocked im2col through reused buffers, the transposed single-channel column matrix, work
skipped when nobody asked for it) against the textbook loops of ``sparsenet.reference``."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import sparsenet.layers as layers
from helpers import numerical_grad, rel_error, sample
from sparsenet import reference
from sparsenet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Reshape


TOL = 1e-6


def away_from_zero(rng, shape, margin=1e-2):
    """Random values with |v| >= margin, so h = 1e-6 never crosses a ReLU kink."""
    v = rng.standard_normal(shape)
    return np.where(v >= 0, v + margin, v - margin)


def distinct(rng, shape, gap=1e-3):
    """Values that differ pairwise by >= gap, so a max-pool never sees a tie."""
    return (rng.permutation(int(np.prod(shape))) * gap).reshape(shape) + rng.uniform(0, gap / 10)


def check_layer(layer, x, rng, n=40):
    """Input and parameter gradients of f = <g, layer(x)> against finite differences."""
    out = layer.forward(x)
    g = rng.standard_normal(out.shape)
    dx = layer.backward(g)
    f = lambda: float(np.sum(g * layer.forward(x)))
    idx = sample(x.size, n, rng)
    assert rel_error(dx.reshape(-1)[idx], numerical_grad(f, x, idx)) < TOL
    for name, p in layer.params.items():
        idx = sample(p.size, n, rng)
        assert rel_error(layer.grads[name].reshape(-1)[idx], numerical_grad(f, p, idx)) < TOL, name


@pytest.mark.parametrize("padding,cin,cout,size", [("same", 1, 4, 8), ("valid", 3, 5, 9), ("same", 2, 3, 7)])
def test_conv2d_gradients(padding, cin, cout, size):
    rng = np.random.default_rng(0)
    conv = Conv2D(cin, cout, 5 if size > 7 else 3, padding, rng=1, dtype=np.float64)
    conv.params["b"][:] = rng.standard_normal(cout)
    check_layer(conv, rng.standard_normal((2, size, size, cin)), rng)


def test_dense_gradients():
    rng = np.random.default_rng(2)
    dense = Dense(7, 5, rng=3, dtype=np.float64)
    dense.params["b"][:] = rng.standard_normal(5)
    check_layer(dense, rng.standard_normal((4, 7)), rng)


@pytest.mark.parametrize("n", [1, 6])
def test_dense_gradients_for_a_square_matrix(n):
    """A square, non-symmetric W: backward must use W^T, which a shape check cannot tell from W."""
    rng = np.random.default_rng(7)
    dense = Dense(n, n, rng=8, dtype=np.float64)
    dense.params["W"] += np.triu(np.ones((n, n)))        # clearly non-symmetric
    dense.params["b"][:] = rng.standard_normal(n)
    check_layer(dense, rng.standard_normal((3, n)), rng)
    x, g = rng.standard_normal((3, n)), rng.standard_normal((3, n))
    dense.forward(x)
    np.testing.assert_allclose(dense.backward(g), g @ dense.params["W"].T, rtol=1e-12)


def test_initialisation_scales():
    """He (variance 2 / fan_in) for layers feeding a ReLU, Glorot (2 / (fan_in + fan_out)) for the
    output layer; biases start at zero."""
    he, glorot = Dense(2000, 400, rng=0), Dense(2000, 400, rng=0, init="glorot")
    conv = Conv2D(8, 64, 5, rng=0)
    for layer, std in ((he, np.sqrt(2 / 2000)), (glorot, np.sqrt(2 / 2400)), (conv, np.sqrt(2 / 200))):
        assert layer.params["W"].std() == pytest.approx(std, rel=0.02)
        assert abs(layer.params["W"].mean()) < 0.02 * std and not layer.params["b"].any()


def test_relu_gradient_and_switch():
    rng = np.random.default_rng(3)
    relu, x = ReLU(), away_from_zero(rng, (3, 6, 6, 2))
    check_layer(relu, x, rng)
    relu.forward(x)
    np.testing.assert_array_equal(relu.switch, x > 0)
    # r(y) = s(y) * y: the switch alone reproduces the output (Section 3.2).
    np.testing.assert_array_equal(relu.switch * x, relu.forward(x))


def test_relu_switch_is_off_at_exactly_zero():
    """s(y) = 1[y > 0]: at the kink the switch is off and no gradient passes."""
    relu = ReLU()
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.switch, [[False, False, True]])
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_maxpool_gradient_and_switch_selects_argmax():
    rng = np.random.default_rng(4)
    pool, x = MaxPool2D(), distinct(rng, (3, 6, 8, 2))
    check_layer(pool, x, rng)
    out = pool.forward(x)
    windows = sliding_window_view(x, (2, 2), axis=(1, 2))[:, ::2, ::2]  # (B, 3, 4, C, 2, 2)
    argmax = windows.reshape(windows.shape[:4] + (4,)).argmax(axis=-1)
    np.testing.assert_array_equal(pool.switch, argmax)
    np.testing.assert_array_equal(out, windows.max(axis=(-2, -1)))


def test_maxpool_ties_route_gradient_to_one_input():
    pool = MaxPool2D()
    x = np.ones((1, 2, 2, 1))
    pool.forward(x)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx.sum() == 1.0 and dx[0, 0, 0, 0] == 1.0  # the first of equal inputs wins


def test_dropout_is_identity_at_evaluation_and_inverted_in_training():
    rng = np.random.default_rng(5)
    drop, x = Dropout(0.5, rng=0), rng.standard_normal((200, 50))
    np.testing.assert_array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(x), x)
    y = drop.forward(x, train=True)
    kept = drop.mask != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(y[kept], 2 * x[kept])
    assert np.all(y[~kept] == 0)
    g = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(drop.backward(g), g * drop.mask)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8])
def test_dropout_keeps_1_minus_p_and_scales_by_its_inverse(p):
    """Inverted dropout at several p (at p = 0.5, 1/p and 1/(1-p) coincide): the units kept
    are multiplied by 1/(1-p), so the expected output equals the input; backward applies the
    same mask."""
    rng = np.random.default_rng(9)
    drop = Dropout(p, rng=1)
    x = rng.uniform(1, 2, (400, 250))
    y = drop.forward(x, train=True)
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-12)
    assert y.mean() == pytest.approx(x.mean(), rel=0.01)
    g = rng.standard_normal(x.shape)
    np.testing.assert_allclose(drop.backward(g), np.where(kept, g / (1 - p), 0.0), rtol=1e-12)


def test_reshape_and_flatten_round_trip():
    x = np.arange(24.0).reshape(2, 3, 4)
    flat = Flatten()
    assert flat.forward(x).shape == (2, 12)
    assert flat.backward(np.ones((2, 12))).shape == (2, 3, 4)
    assert Reshape((4, 3)).forward(x).shape == (2, 4, 3)


def test_reshape_and_flatten_keep_values_in_c_order_both_ways():
    x = np.arange(24.0).reshape(2, 3, 4)
    g = 100 + np.arange(24.0).reshape(2, 12)
    flat = Flatten()
    np.testing.assert_array_equal(flat.forward(x), [np.arange(12.0), np.arange(12.0, 24.0)])
    np.testing.assert_array_equal(flat.backward(g), g.reshape(2, 3, 4))
    reshape = Reshape((4, 3))
    np.testing.assert_array_equal(reshape.forward(x)[1], np.arange(12.0, 24.0).reshape(4, 3))
    np.testing.assert_array_equal(reshape.backward(g.reshape(2, 4, 3)), g.reshape(2, 3, 4))


def test_float32_layers_stay_float32():
    conv = Conv2D(1, 2, 3, "same", rng=0)
    x = np.random.default_rng(0).random((2, 4, 4, 1), dtype=np.float32)
    out = conv.forward(x)
    assert out.dtype == np.float32 and conv.backward(out).dtype == np.float32


def test_param_grads_false_leaves_grads_untouched():
    dense = Dense(3, 2, rng=0, dtype=np.float64)
    x = np.ones((1, 3))
    dense.forward(x)
    dense.backward(np.ones((1, 2)), param_grads=False)
    assert not dense.grads["W"].any()


@pytest.mark.parametrize("make,x,match", [
    (lambda: Conv2D(1, 2, 3), np.zeros((2, 5, 5, 3)), r"\(B, H, W, 1\)"),
    (lambda: Conv2D(1, 2, 3), np.zeros((2, 5, 5)), r"\(B, H, W, 1\)"),
    (lambda: Conv2D(1, 2, 5, "valid"), np.zeros((1, 3, 3, 1)), "smaller than"),
    (lambda: Dense(4, 2), np.zeros((2, 5)), r"\(B, 4\)"),
    (lambda: MaxPool2D(), np.zeros((1, 3, 4, 1)), "even H and W"),
])
def test_bad_input_shapes_raise_clear_errors(make, x, match):
    with pytest.raises(ValueError, match=match):
        make().forward(x)


def test_bad_layer_settings_raise():
    with pytest.raises(ValueError, match="padding must be"):
        Conv2D(1, 2, 3, padding="full")
    with pytest.raises(ValueError, match="odd kernel"):
        Conv2D(1, 2, 4, padding="same")
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)


# -- the fast layers against the textbook loops (sparsenet.reference) ----------------------
# The loops are slow: batches of at most 7 images of at most 9x9 pixels.


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few images, so every batch below crosses several blocks and ends in
    a partial one."""
    monkeypatch.setattr(layers, "BLOCK_BYTES", 3000)


def images_per_block(conv, size):
    """Images per block of Conv2D's column matrix, as its docstring gives it: max(1,
    BLOCK_BYTES // b), b the bytes of one size x size image's columns."""
    out = size if conv.padding == "same" else size - conv.kernel_size + 1
    one_image = out * out * (conv.kernel_size ** 2 * conv.in_channels + 1) * conv.params["W"].itemsize
    return max(1, layers.BLOCK_BYTES // one_image)


# -- convolution -------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_matches_the_reference_loops(padding):
    rng = np.random.default_rng(1)
    conv = Conv2D(3, 4, 5, padding, rng=2, dtype=np.float64)
    conv.params["b"][:] = rng.standard_normal(4)
    x = rng.standard_normal((2, 9, 9, 3))
    want = reference.conv2d_forward(x, conv.params["W"], conv.params["b"], padding)
    np.testing.assert_allclose(conv.forward(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding,cin,cout,size,k", [("same", 1, 4, 8, 5), ("valid", 3, 5, 9, 5),
                                                     ("same", 2, 3, 7, 3), ("valid", 1, 2, 6, 3)])
@pytest.mark.parametrize("train", [False, True])
def test_blocked_conv_matches_the_reference_loops(small_blocks, padding, cin, cout, size, k, train):
    rng = np.random.default_rng(0)
    conv = Conv2D(cin, cout, k, padding, rng=1, dtype=np.float64)
    conv.params["b"][:] = rng.standard_normal(cout)
    for B in (7, 3, 7):      # shrinking and growing batches reuse the layer's buffers
        x = rng.standard_normal((B, size, size, cin))
        out = conv.forward(x, train=train)
        assert images_per_block(conv, size) < B          # several blocks
        ref = reference.conv2d_forward(x, conv.params["W"], conv.params["b"], padding)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(out.shape)
        dx = conv.backward(g)
        rdx, rdW, rdb = reference.conv2d_backward(g, x, conv.params["W"], padding)
        np.testing.assert_allclose(dx, rdx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(conv.grads["W"], rdW, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(conv.grads["b"], rdb, rtol=1e-12, atol=1e-12)


def test_conv_without_input_gradient_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(1)
    conv = Conv2D(1, 3, 5, "same", rng=2, dtype=np.float64)
    x, g = rng.standard_normal((4, 8, 8, 1)), rng.standard_normal((4, 8, 8, 3))
    conv.forward(x, train=True)
    assert conv.backward(g, input_grad=False) is None
    dW = conv.grads["W"].copy()
    conv.forward(x, train=True)
    conv.backward(g)
    np.testing.assert_array_equal(conv.grads["W"], dW)


def test_conv_backward_rejects_a_gradient_of_the_wrong_shape():
    conv = Conv2D(1, 2, 3, "same", rng=0)
    conv.forward(np.zeros((2, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"gradient of shape \(2, 4, 4, 2\)"):
        conv.backward(np.zeros((2, 4, 4, 3), np.float32))


# -- max-pool ----------------------------------------------------------------------------
def test_maxpool_matches_the_reference_loops_with_ties():
    rng = np.random.default_rng(2)
    # Rounded values: many windows hold equal entries, where the first must win.
    x = np.round(rng.standard_normal((5, 6, 8, 3)), 0)
    pool = MaxPool2D()
    out = pool.forward(x)
    ref_out, ref_switch = reference.maxpool_forward(x)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(pool.switch, ref_switch)
    g = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(pool.backward(g), reference.maxpool_backward(g, ref_switch, x.shape))


def test_reference_switch_convention_is_the_layers():
    """The switch says which input of its 2x2 window won, as 2 * row + col; of equal
    inputs the first (row-major) wins -- in the reference loops and in the layer alike."""
    x = np.zeros((1, 2, 8, 1))
    x[0, :, 0:2, 0] = [[5, 1], [1, 1]]          # top-left wins: 0
    x[0, :, 2:4, 0] = [[1, 5], [1, 1]]          # top-right: 1
    x[0, :, 4:6, 0] = [[1, 1], [5, 1]]          # bottom-left: 2
    x[0, :, 6:8, 0] = [[1, 1], [1, 5]]          # bottom-right: 3
    ties = np.zeros((1, 2, 8, 1))
    ties[0, :, 0:2, 0] = [[2, 2], [2, 2]]       # all equal: the first, 0
    ties[0, :, 2:4, 0] = [[1, 3], [3, 3]]       # three equal maxima: top-right, 1
    ties[0, :, 4:6, 0] = [[1, 1], [3, 3]]       # bottom-left, 2
    ties[0, :, 6:8, 0] = [[1, 3], [1, 3]]       # top-right, 1
    for x, want in ((x, [0, 1, 2, 3]), (ties, [0, 1, 2, 1])):
        _, switch = reference.maxpool_forward(x)
        pool = MaxPool2D()
        pool.forward(x)
        np.testing.assert_array_equal(switch[0, 0, :, 0], want)
        np.testing.assert_array_equal(pool.switch, switch)
        dx = reference.maxpool_backward(np.ones((1, 1, 4, 1)), switch, x.shape)
        np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 4, 1))), dx)


def test_switches_are_computed_for_the_last_forward_pass():
    rng = np.random.default_rng(3)
    relu, pool = ReLU(), MaxPool2D()
    a, b = rng.standard_normal((2, 4, 4, 2)), rng.standard_normal((2, 4, 4, 2))
    relu.forward(a), pool.forward(a)
    first = relu.switch.copy(), pool.switch.copy()
    relu.forward(b), pool.forward(b)
    np.testing.assert_array_equal(relu.switch, b > 0)
    np.testing.assert_array_equal(pool.switch, reference.maxpool_forward(b)[1])
    assert not np.array_equal(relu.switch, first[0]) and not np.array_equal(pool.switch, first[1])


def test_dense_without_input_gradient():
    dense = Dense(4, 3, rng=0, dtype=np.float64)
    dense.forward(np.ones((2, 4)))
    assert dense.backward(np.ones((2, 3)), input_grad=False) is None
    np.testing.assert_array_equal(dense.grads["W"], 2 * np.ones((4, 3)))


def test_flatten_and_dropout_unchanged_by_the_fast_paths():
    # Layers without fast paths keep their plain behaviour inside the fast network.
    x = np.arange(12.0).reshape(1, 3, 4)
    np.testing.assert_array_equal(Flatten().forward(x), x.reshape(1, 12))
    np.testing.assert_array_equal(Dropout(0.5).forward(x), x)
