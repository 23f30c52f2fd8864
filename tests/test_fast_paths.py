"""The engine's fast paths against plain references (issue 11).

The layers process the batch in blocks through reused buffers, store the single-channel
column matrix transposed, skip work nobody asked for (switches, the first layer's input
gradient) and cnn4 pools before its ReLUs. Each of those must leave every number as the
textbook computation gives it: here the plain versions, written the simple way, are run
beside the fast ones in float64.
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import sparsenet.layers as layers
from sparsenet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Reshape
from sparsenet.losses import cross_entropy
from sparsenet.models import Sequential, cnn4


# -- plain references ------------------------------------------------------------------
def plain_conv_forward(x, W, b, padding):
    """Full-batch im2col and one product (the engine before blocking)."""
    k = W.shape[0]
    p = k // 2 if padding == "same" else 0
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    B, Hp, Wp, C = xp.shape
    Ho, Wo = Hp - k + 1, Wp - k + 1
    cols = sliding_window_view(xp, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3).reshape(B * Ho * Wo, -1)
    return (cols @ W.reshape(-1, W.shape[3]) + b).reshape(B, Ho, Wo, -1), cols


def plain_conv_backward(grad, x, W, padding):
    """dx by summing the column gradient back over the kernel offsets; dW = cols^T g."""
    k = W.shape[0]
    p = k // 2 if padding == "same" else 0
    _, cols = plain_conv_forward(x, W, np.zeros(W.shape[3]), padding)
    g = grad.reshape(-1, W.shape[3])
    B, H, Wd, C = x.shape
    dxp = np.zeros((B, H + 2 * p, Wd + 2 * p, C))
    Ho, Wo = grad.shape[1:3]
    dcols = (g @ W.reshape(-1, W.shape[3]).T).reshape(B, Ho, Wo, k, k, C)
    for i in range(k):
        for j in range(k):
            dxp[:, i:i + Ho, j:j + Wo] += dcols[:, :, :, i, j]
    return dxp[:, p:p + H, p:p + Wd], (cols.T @ g).reshape(W.shape), g.sum(axis=0)


def plain_pool(x):
    """Max and first-wins arg-max of each 2x2 window, from the four corners."""
    B, H, W, C = x.shape
    windows = sliding_window_view(x, (2, 2), axis=(1, 2))[:, ::2, ::2]       # (B, H/2, W/2, C, 2, 2)
    flat = windows.reshape(B, H // 2, W // 2, C, 4)
    return flat.max(axis=-1), flat.argmax(axis=-1)                            # argmax: first of ties


def plain_pool_backward(grad, switch, shape):
    B, H, W, C = shape
    dx = np.zeros((B, H // 2, 2, W // 2, 2, C))
    for k in range(4):
        dx[:, :, k // 2, :, k % 2] = grad * (switch == k)
    return dx.reshape(shape)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few images, so every batch below crosses several blocks and ends in
    a partial one."""
    monkeypatch.setattr(layers, "BLOCK_BYTES", 3000)


# -- convolution -------------------------------------------------------------------------
@pytest.mark.parametrize("padding,cin,cout,size,k", [("same", 1, 4, 8, 5), ("valid", 3, 5, 9, 5),
                                                     ("same", 2, 3, 7, 3), ("valid", 1, 2, 6, 3)])
@pytest.mark.parametrize("train", [False, True])
def test_blocked_conv_matches_plain_im2col(small_blocks, padding, cin, cout, size, k, train):
    rng = np.random.default_rng(0)
    conv = Conv2D(cin, cout, k, padding, rng=1, dtype=np.float64)
    conv.params["b"][:] = rng.standard_normal(cout)
    for B in (7, 3, 7):      # shrinking and growing batches reuse the layer's buffers
        x = rng.standard_normal((B, size, size, cin))
        out = conv.forward(x, train=train)
        assert conv._block() < B          # several blocks, the last one partial
        ref, _ = plain_conv_forward(x, conv.params["W"], conv.params["b"], padding)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(out.shape)
        dx = conv.backward(g)
        rdx, rdW, rdb = plain_conv_backward(g, x, conv.params["W"], padding)
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
def test_maxpool_matches_plain_corners_with_ties():
    rng = np.random.default_rng(2)
    # Rounded values: many windows hold equal entries, where the first must win.
    x = np.round(rng.standard_normal((5, 6, 8, 3)), 0)
    pool = MaxPool2D()
    out = pool.forward(x)
    ref_out, ref_switch = plain_pool(x)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(pool.switch, ref_switch)
    g = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(pool.backward(g), plain_pool_backward(g, ref_switch, x.shape))


def test_switches_are_computed_for_the_last_forward_pass():
    rng = np.random.default_rng(3)
    relu, pool = ReLU(), MaxPool2D()
    a, b = rng.standard_normal((2, 4, 4, 2)), rng.standard_normal((2, 4, 4, 2))
    relu.forward(a), pool.forward(a)
    first = relu.switch.copy(), pool.switch.copy()
    relu.forward(b), pool.forward(b)
    np.testing.assert_array_equal(relu.switch, b > 0)
    np.testing.assert_array_equal(pool.switch, plain_pool(b)[1])
    assert not np.array_equal(relu.switch, first[0]) and not np.array_equal(pool.switch, first[1])


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


# -- the Square Attack's step on the square alone ----------------------------------------------
def plain_square(clf, x, y, eps, queries, p_init=0.8, rng=None):
    """The Square Attack as first written: every step builds the whole-image proposal
    old + 2 eps sign 1[inside] and projects all of it."""
    from sparsenet.attacks.common import margin, project
    from sparsenet.attacks.square_attack import square_size_share
    from sparsenet.models import predictions
    rng = np.random.default_rng(rng)
    n, h, w = x.shape
    stripes = rng.choice(np.array([-eps, eps], x.dtype), size=(n, 1, w))
    best = x.copy()
    todo = np.flatnonzero(clf.predict(x) == y)
    best[todo] = project(x[todo] + stripes[todo], x[todo], eps)
    logits = clf.forward(best)
    m_best = -margin(logits, y)
    fooled = (predictions(logits) != y) | ~np.isin(np.arange(n), todo)
    rows, cols = np.arange(h), np.arange(w)
    for i in range(queries - 1):
        s = min(max(int(round(np.sqrt(square_size_share(p_init, i, queries) * h * w))), 1), h - 1)
        top, left = rng.integers(0, h - s, size=n), rng.integers(0, w - s, size=n)
        sign = rng.choice(np.array([-1, 1], x.dtype), size=n)
        act = np.flatnonzero(~fooled)
        if not len(act):
            break
        inside = ((rows >= top[act, None]) & (rows < top[act, None] + s))[:, :, None] & \
                 ((cols >= left[act, None]) & (cols < left[act, None] + s))[:, None, :]
        old = best[act]
        proposal = project(old + 2 * eps * sign[act, None, None] * inside, x[act], eps)
        same = ~(np.abs(proposal - old) > 1e-7).reshape(len(act), -1).any(axis=1)
        if same.any():
            flip = act[same]
            proposal[same] = project(old[same] - 2 * eps * sign[flip, None, None] * inside[same], x[flip], eps)
        logits = clf.forward(proposal)
        m = -margin(logits, y[act])
        hit = predictions(logits) != y[act]
        keep = (m < m_best[act]) | hit
        best[act[keep]] = proposal[keep]
        m_best[act[keep]] = m[keep]
        fooled[act[hit]] = True
    return best


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_square_steps_on_the_square_alone_give_the_whole_image_result(dtype):
    """Same draws, same proposals, same decisions: the returned images are identical. The
    images touch 0 and 1 so the [0, 1] clip acts, and 300 queries run every stage of p."""
    from sparsenet import attacks
    from sparsenet.models import Classifier, fc2
    rng = np.random.default_rng(0)
    clf = Classifier(fc2(seed=3, dtype=dtype))
    x = np.clip(rng.uniform(-0.3, 1.3, (60, 28, 28)), 0, 1).astype(dtype)
    y = clf.predict(x)
    got = attacks.square(clf, x, y, 0.02, queries=300, rng=5)
    want = plain_square(clf, x, y, 0.02, queries=300, rng=5)
    assert 0 < (clf.predict(got) != y).mean() < 1            # some fooled, some ran to the end
    np.testing.assert_array_equal(got, want)
