"""Whole networks: float64 gradient checks, losses, checkpoints, training on real data."""
import json

import numpy as np
import pytest

from gradcheck import numerical_grad, rel_error, sample
from sparsenet import data
from sparsenet.losses import cross_entropy, sigmoid_cross_entropy, softmax_cross_entropy, weight_penalty
from sparsenet.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from sparsenet.models import Classifier, build, cnn4, fc2
from sparsenet.training import accuracy, fit, set_penalty


def randomize_biases(net, rng):
    for layer in net.weighted:
        layer.params["b"][:] = 0.1 * rng.standard_normal(layer.params["b"].shape)


@pytest.mark.parametrize("arch", ["cnn4", "fc2"])
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


def test_checkpoint_round_trip(tmp_path):
    net = cnn4(seed=1)
    path = tmp_path / "net.npz"
    save_checkpoint(path, net, {"dataset": "mnist", "rho": 0.03})
    loaded, meta = load_checkpoint(path, arch="cnn4")
    assert meta == {"dataset": "mnist", "rho": 0.03}
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary left behind


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "fc2.npz"
    save_checkpoint(path, fc2())
    with pytest.raises(CheckpointError, match="'fc2' network, not 'cnn4'"):
        load_checkpoint(path, arch="cnn4")
    with pytest.raises(ValueError, match="do not match"):
        cnn4().load_state_dict(load_checkpoint(path)[0].state_dict())
    with pytest.raises(ValueError, match="parameter 1.W: has shape"):
        fc2(hidden=20).load_state_dict(fc2().state_dict())


def test_corrupt_or_missing_checkpoint(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")


HEADER = {"arch": "fc2", "config": {"seed": 0, "hidden": 10}, "dtype": "float32"}


def checkpoint_arrays(header=HEADER, meta="{}", drop=()):
    arrays = {"__arch__": np.array(header if isinstance(header, str) else json.dumps(header)),
              "__meta__": np.array(meta), **{f"param/{k}": v for k, v in fc2().state_dict().items()}}
    return {k: v for k, v in arrays.items() if k not in drop}


def _truncated(path):
    save_checkpoint(path, fc2())
    path.write_bytes(path.read_bytes()[:-200])


def _flipped(path):
    save_checkpoint(path, fc2())
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF          # inside a weight array: the zip CRC no longer matches
    path.write_bytes(bytes(raw))


CORRUPT_CHECKPOINTS = {
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "not-a-zip": (lambda p: p.write_bytes(b"\x80\x04junk that pickle would try"), "not an .npz archive"),
    "truncated-zip": (_truncated, "truncated or damaged archive"),
    "flipped-byte": (_flipped, "truncated or damaged archive"),
    "object-array": (lambda p: np.savez(p, **checkpoint_arrays(), x=np.array([{}], dtype=object)),
                     "an array holds Python objects"),
    "no-header": (lambda p: np.savez(p, **checkpoint_arrays(drop=("__arch__",))), "header (__arch__) is missing"),
    "no-metadata": (lambda p: np.savez(p, **checkpoint_arrays(drop=("__meta__",))), "metadata (__meta__) is missing"),
    "header-not-json": (lambda p: np.savez(p, **checkpoint_arrays(header="{arch: fc2")), "is not valid JSON"),
    "header-is-array": (lambda p: np.savez(p, **checkpoint_arrays(header=["fc2"])), "is an array in JSON"),
    "metadata-is-number": (lambda p: np.savez(p, **checkpoint_arrays(meta="3")), "is a number in JSON"),
    "header-not-string": (lambda p: np.savez(p, **{**checkpoint_arrays(), "__arch__": np.zeros(2)}), "not a string"),
    "header-lacks-config": (lambda p: np.savez(p, **checkpoint_arrays({"arch": "fc2", "dtype": "float32"})),
                            "lacks 'config'"),
    "unknown-arch": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "arch": "resnet50"})),
                     "unknown architecture 'resnet50'"),
    "config-not-object": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "config": [1]})), "not an object"),
    "bad-config": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "config": {"depth": 3}})),
                   "does not build a fc2"),
    "bad-dtype": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "dtype": "float99"})), "unknown dtype"),
    "int-dtype": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "dtype": "int64"})), "not a floating-point"),
    "missing-weight": (lambda p: np.savez(p, **checkpoint_arrays(drop=("param/3.b",))), "do not match"),
    "wrong-shape": (lambda p: np.savez(p, **{**checkpoint_arrays(), "param/3.b": np.zeros(5)}), "shape"),
    "text-weight": (lambda p: np.savez(p, **{**checkpoint_arrays(), "param/3.b": np.array(["a"])}),
                    "not real floating-point numbers"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CHECKPOINTS))
def test_every_corrupt_checkpoint_is_a_checkpoint_error_naming_the_file(tmp_path, case):
    make, reason = CORRUPT_CHECKPOINTS[case]
    path = tmp_path / "net.npz"
    make(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and reason in message, message
    assert "pickle" not in message.lower(), message            # never advice to unpickle
    assert err.value.reason in message and str(path) not in err.value.reason


def test_checkpoint_keeps_a_float64_network_float64(tmp_path):
    net = fc2(seed=2, dtype=np.float64)
    save_checkpoint(tmp_path / "n.npz", net)
    loaded, meta = load_checkpoint(tmp_path / "n.npz")
    assert loaded.dtype == np.float64 and meta == {}
    np.testing.assert_array_equal(loaded.parameters()[0], net.parameters()[0])


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


def test_fit_rejects_bad_settings():
    net, x, y = fc2(), np.zeros((4, 28, 28), np.float32), np.zeros(4, int)
    with pytest.raises(ValueError, match="as many labels"):
        fit(net, x, y[:3], epochs=1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(net, x, y, epochs=1, optimizer="lbfgs")


# -- real data -------------------------------------------------------------------
def test_fc2_learns_mnist_3_vs_7(mnist_dir):
    x, y = data.load_binary("mnist", "train", mnist_dir)
    xt, yt = data.load_binary("mnist", "test", mnist_dir)
    net = fc2(seed=0)
    hist = fit(net, x[:4000], y[:4000], epochs=3, batch_size=32, seed=0, log=lambda m: None)
    assert hist["loss"][-1] < hist["loss"][0]
    assert accuracy(net, xt, yt) > 0.97


def test_cnn4_learns_mnist_from_a_few_thousand_images(mnist_dir):
    x, y = data.load_dataset("mnist", "train", mnist_dir)
    xt, yt = data.load_dataset("mnist", "test", mnist_dir)
    net = cnn4(seed=0)
    fit(net, x[:3000], y[:3000], epochs=2, batch_size=64, seed=0, log=lambda m: None)
    assert accuracy(net, xt[:2000], yt[:2000]) > 0.90


def test_training_is_deterministic(mnist_dir):
    x, y = data.load_binary("mnist", "train", mnist_dir)
    nets = [fc2(seed=1) for _ in range(2)]
    for net in nets:
        fit(net, x[:1000], y[:1000], epochs=1, seed=5, log=lambda m: None)
    np.testing.assert_array_equal(nets[0].parameters()[0], nets[1].parameters()[0])


def test_confident_gradients_do_not_round_to_zero():
    """p_t - 1 must stay -sum_{k != t} p_k even when p_t rounds to 1 in float32."""
    logits = np.array([[30.0, 0.0, 5.0]], dtype=np.float32)
    _, grad = softmax_cross_entropy(logits, np.array([0]), reduction="sum")
    assert grad[0, 0] < 0 and grad[0, 0] == pytest.approx(-grad[0, 1:].sum(), rel=1e-6)
    _, grad = sigmoid_cross_entropy(np.array([[30.0]], dtype=np.float32), np.array([1]), reduction="sum")
    assert grad[0, 0] < 0 and grad[0, 0] == pytest.approx(-np.exp(-30.0), rel=1e-5)
