"""Every layer's backward pass against float64 finite differences, the switches of
ReLU and max-pool (Section 3.2), and clear errors for bad input."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from gradcheck import numerical_grad, rel_error, sample
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


def naive_conv(x, W, b, padding):
    """Loop-based reference convolution (used only here, to check the im2col one)."""
    k = W.shape[0]
    p = k // 2 if padding == "same" else 0
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    B, H, Wd, _ = xp.shape
    out = np.zeros((B, H - k + 1, Wd - k + 1, W.shape[3]))
    for h in range(out.shape[1]):
        for w in range(out.shape[2]):
            patch = xp[:, h:h + k, w:w + k, :]
            out[:, h, w, :] = np.tensordot(patch, W, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_matches_naive_loops(padding):
    rng = np.random.default_rng(1)
    conv = Conv2D(3, 4, 5, padding, rng=2, dtype=np.float64)
    conv.params["b"][:] = rng.standard_normal(4)
    x = rng.standard_normal((2, 9, 9, 3))
    np.testing.assert_allclose(conv.forward(x), naive_conv(x, conv.params["W"], conv.params["b"], padding),
                               rtol=1e-12, atol=1e-12)


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
