"""The optimizers' update rules against steps computed by hand (and by a scalar reference
written from Kingma & Ba's Algorithm 1 in its efficient form)."""
import math

import numpy as np
import pytest

from sparsenet.optim import OPTIMIZERS, SGD, Adam


def test_sgd_momentum_two_steps_by_hand():
    """v <- mu v - lr g; theta <- theta + v, with lr = 0.1 and mu = 0.9:
    v1 = -0.1 g1 = (-0.05, -0.1), theta1 = (0.95, -2.1);
    v2 = 0.9 v1 - 0.1 g2 = (-0.045 + 0.1, -0.09 - 0.2) = (0.055, -0.29), theta2 = (1.005, -2.39)."""
    p = np.array([1.0, -2.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step([np.array([0.5, 1.0])])
    np.testing.assert_allclose(p, [0.95, -2.1], rtol=1e-14)
    np.testing.assert_allclose(opt.velocity[0], [-0.05, -0.1], rtol=1e-14)
    opt.step([np.array([-1.0, 2.0])])
    np.testing.assert_allclose(opt.velocity[0], [0.055, -0.29], rtol=1e-13)
    np.testing.assert_allclose(p, [1.005, -2.39], rtol=1e-14)


def test_sgd_without_momentum_is_plain_gradient_descent():
    p = np.array([[3.0, 4.0]])
    opt = SGD([p], lr=0.5, momentum=0.0)
    for _ in range(3):
        opt.step([np.array([[1.0, -2.0]])])
    np.testing.assert_allclose(p, [[1.5, 7.0]], rtol=1e-14)


def adam_reference(p0, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Scalar loops, one parameter at a time: m, v, then
    theta -= lr_t m / (sqrt(v) + eps) with lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)."""
    out = []
    for j, theta in enumerate(p0):
        m = v = 0.0
        for t, g in enumerate(grads, start=1):
            m = b1 * m + (1 - b1) * g[j]
            v = b2 * v + (1 - b2) * g[j] ** 2
            lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            theta -= lr_t * m / (math.sqrt(v) + eps)
        out.append(theta)
    return np.array(out)


def test_adam_first_step_moves_every_parameter_by_lr_against_the_gradient_sign():
    """Bias correction makes the first step lr * g / |g| (up to eps), whatever |g|: without
    it the step would be lr * 0.1 / sqrt(0.001) = 3.16 lr."""
    p = np.array([1.0, -2.0, 0.5, 0.0])
    g = np.array([0.5, -4.0, 1e3, -2.0])
    Adam([p], lr=0.1).step([g])
    np.testing.assert_allclose(p, [0.9, -1.9, 0.4, 0.1], rtol=1e-6)


def test_adam_matches_the_scalar_reference_over_several_steps():
    """Includes a gradient of 1e-6, where eps = 1e-8 is not negligible: the reference pins
    down where eps enters (outside the square root, after bias correction of lr)."""
    p0 = np.array([1.0, -2.0, 0.5, 3.0])
    grads = [np.array([0.5, -4.0, 1e-6, 0.0]), np.array([-0.3, -1.0, 2e-6, 1.0]),
             np.array([0.2, 0.5, -1e-6, -2.0])]
    p = p0.copy()
    opt = Adam([p], lr=0.05)
    for g in grads:
        opt.step([g])
    np.testing.assert_allclose(p, adam_reference(p0, grads, 0.05), rtol=1e-12, atol=1e-15)
    assert opt.t == 3


def test_adam_tiny_gradient_step_by_hand():
    """g = 1e-6 at t = 1: m = 1e-7, sqrt(v) = sqrt(0.001) 1e-6, lr_1 = lr sqrt(0.001) / 0.1, so
    the step is lr * 1e-6 / (1e-6 + 1e-8 / sqrt(0.001)) = lr / (1 + 0.01 / sqrt(0.001))."""
    p = np.array([0.0])
    Adam([p], lr=1.0).step([np.array([1e-6])])
    assert p[0] == pytest.approx(-1 / (1 + 0.01 / math.sqrt(0.001)), rel=1e-9)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_parameters_stay_float32_and_are_updated_in_place(name):
    p = np.ones((2, 3), np.float32)
    ref = p
    opt = OPTIMIZERS[name]([p], lr=0.1)
    opt.step([np.full((2, 3), 0.5, np.float32)])
    assert p is ref and p.dtype == np.float32
    np.testing.assert_allclose(p, 0.95 if name == "sgd" else 0.9, rtol=1e-6)


@pytest.mark.parametrize("make,match", [
    (lambda p: SGD(p, lr=0), "lr must be"),
    (lambda p: SGD(p, lr=-1e-3), "lr must be"),
    (lambda p: SGD(p, lr=float("nan")), "lr must be"),
    (lambda p: SGD(p, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda p: SGD(p, momentum=-0.1), r"momentum must be in \[0, 1\)"),
    (lambda p: Adam(p, lr=0), "lr must be"),
    (lambda p: Adam(p, lr="0.1"), "lr must be"),
    (lambda p: Adam(p, beta1=1.0), r"beta1 must be in \[0, 1\)"),
    (lambda p: Adam(p, beta2=1.5), r"beta2 must be in \[0, 1\)"),
    (lambda p: Adam(p, eps=-1e-8), "eps must be"),
])
def test_bad_settings_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make([np.zeros(3)])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_gradient_list_of_the_wrong_length_is_refused(name):
    a, b = np.ones(2), np.ones(3)
    opt = OPTIMIZERS[name]([a, b], lr=0.1)
    with pytest.raises(ValueError, match="2 parameters"):
        opt.step([np.ones(2)])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_the_update_is_the_same_bits_on_one_thread_and_two(monkeypatch, name):
    """Parameters of cnn4's size give the same bits whatever SPARSENET_THREADS says, and a
    non-contiguous parameter (a view) is updated in place."""
    rng = np.random.default_rng(0)
    shapes = [(700, 300), (1000,), (5, 5, 20, 40), (3,)]
    start = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SPARSENET_THREADS", threads)
        base = np.zeros((400, 600), np.float32)
        params = [p.copy() for p in start] + [base[:, :300]]       # the last is a view with no flat view
        base[:, :300] = 1.0
        opt = OPTIMIZERS[name](params, lr=0.01)
        for g in grads:
            opt.step(g + [np.full((400, 300), 0.5, np.float32)])
        results.append(params)
    for a, b, p0 in zip(*results, start + [None]):
        np.testing.assert_array_equal(a, b)
        if p0 is not None:
            assert not np.array_equal(a, p0)
    assert np.all(results[1][-1] < 1.0)                    # the view was updated in place
