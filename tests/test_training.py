"""sparsenet.training: the loop on tiny synthetic data (what each epoch sees, seeded shuffling,
the learning-rate decay, the reported loss, the after_step hook, penalties) and on real MNIST
(the networks learn, deterministically)."""
import numpy as np
import pytest

from sparsenet import data, training
from sparsenet.losses import cross_entropy, weight_penalty
from sparsenet.models import cnn4, fc2
from sparsenet.training import accuracy, fit, set_penalty


quiet = lambda msg: None  # noqa: E731


def indexed_images(n):
    """Image i is filled with i / 1000, so a batch tells which examples it holds."""
    return np.repeat((np.arange(n) / 1000.0)[:, None, None], 28, 1).repeat(28, 2).astype(np.float64)


def record_batches(net):
    """Wrap net.forward: every training batch's example indices, in order."""
    seen, forward = [], net.forward

    def recording(x, train=False):
        if train:
            seen.append(np.rint(np.asarray(x)[:, 0, 0] * 1000).astype(int))
        return forward(x, train)

    net.forward = recording
    return seen


def batches_of(n, epochs, batch_size, seed):
    net = fc2(seed=0, dtype=np.float64)
    seen = record_batches(net)
    fit(net, indexed_images(n), np.arange(n) % 2, epochs=epochs, batch_size=batch_size, seed=seed, log=quiet)
    per_epoch = len(seen) // epochs
    return [seen[e * per_epoch:(e + 1) * per_epoch] for e in range(epochs)]


def test_every_epoch_sees_each_example_once_in_a_new_seeded_order():
    epochs = batches_of(n=50, epochs=3, batch_size=8, seed=4)
    orders = [np.concatenate(e) for e in epochs]
    for batches, order in zip(epochs, orders):
        assert len(batches) == 50 // 8                                   # n // batch_size batches
        assert {len(b) for b in batches} <= {8, 9}                       # near-equal sizes
        np.testing.assert_array_equal(np.sort(order), np.arange(50))     # each example once
        assert not np.array_equal(order, np.arange(50))                  # shuffled
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    again = [np.concatenate(e) for e in batches_of(n=50, epochs=3, batch_size=8, seed=4)]
    other = [np.concatenate(e) for e in batches_of(n=50, epochs=3, batch_size=8, seed=5)]
    for a, b in zip(orders, again):
        np.testing.assert_array_equal(a, b)                              # same seed, same order
    assert not np.array_equal(orders[0], other[0])                       # the seed matters


def test_a_batch_larger_than_the_set_gives_one_batch_per_epoch():
    epochs = batches_of(n=10, epochs=2, batch_size=64, seed=0)
    assert [len(e) for e in epochs] == [1, 1] and all(len(e[0]) == 10 for e in epochs)


class RecordingSGD:
    """Does not move the weights; records the learning rate of every step."""
    lrs = []

    def __init__(self, params, lr, momentum=0.9):
        self.lr = lr

    def step(self, grads):
        RecordingSGD.lrs.append(self.lr)


def test_learning_rate_decays_after_every_epoch_and_loss_is_the_epoch_mean(monkeypatch):
    """With frozen weights, each epoch's reported loss is the data set's mean cross-entropy
    plus the weight penalty (batches weighted by their size), whatever the order."""
    monkeypatch.setattr(training, "OPTIMIZERS", {"sgd": RecordingSGD})
    RecordingSGD.lrs = []
    rng = np.random.default_rng(0)
    x, y = rng.random((23, 28, 28)), rng.integers(0, 2, 23)
    net = fc2(seed=1, dtype=np.float64)
    set_penalty(net, l2=0.01)
    history = fit(net, x, y, epochs=3, batch_size=5, optimizer="sgd", lr=0.2, lr_decay=0.5, log=quiet)
    steps = 23 // 5
    assert RecordingSGD.lrs == [0.2] * steps + [0.1] * steps + [0.05] * steps
    expected = cross_entropy(net.forward(x), y)[0] + weight_penalty(net.weighted, add_grads=False)
    np.testing.assert_allclose(history["loss"], [expected] * 3, rtol=1e-12)
    assert len(history["img_per_s"]) == 3 and history["seconds"] > 0
    assert np.isnan(history["val_acc"]).all()                            # no validation set given


def test_validation_accuracy_and_one_log_line_per_epoch():
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 28, 28)), rng.integers(0, 2, 40)
    lines = []
    net = fc2(seed=0, dtype=np.float64)
    history = fit(net, x[:30], y[:30], epochs=2, batch_size=10, x_val=x[30:], y_val=y[30:], log=lines.append)
    assert history["val_acc"][-1] == accuracy(net, x[30:], y[30:])
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]


def test_after_step_runs_once_per_optimizer_step_with_the_network():
    net, calls = fc2(seed=0), []
    x, y = np.random.default_rng(2).random((12, 28, 28)), np.arange(12) % 2
    fit(net, x, y, epochs=2, batch_size=4, after_step=calls.append, log=quiet)
    assert len(calls) == 2 * 3 and all(c is net for c in calls)


def test_set_penalty_sets_the_chosen_layers_only():
    net = fc2()
    set_penalty(net, l1=0.03, l2=0.001, layers=[0])
    assert (net.weighted[0].l1, net.weighted[0].l2) == (0.03, 0.001)
    assert (net.weighted[1].l1, net.weighted[1].l2) == (0.0, 0.0)
    set_penalty(net, l2=0.5)
    assert [(w.l1, w.l2) for w in net.weighted] == [(0.0, 0.5), (0.0, 0.5)]
    with pytest.raises(ValueError, match="penalties must be >= 0"):
        set_penalty(net, l1=-1.0)


def test_divergence_stops_with_advice():
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 28, 28)), rng.integers(0, 2, 16)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(fc2(dtype=np.float64), x, y, epochs=3, batch_size=4, optimizer="sgd", lr=1e200, log=quiet)


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs and batch_size must be >= 1"),
    ({"epochs": 1, "batch_size": 0}, "epochs and batch_size must be >= 1"),
    ({"epochs": 1, "optimizer": "rmsprop"}, "unknown optimizer"),
])
def test_bad_settings_raise(kwargs, match):
    x, y = np.zeros((4, 28, 28)), np.zeros(4, int)
    with pytest.raises(ValueError, match=match):
        fit(fc2(), x, y, log=quiet, **kwargs)
    with pytest.raises(ValueError, match="as many labels as images"):
        fit(fc2(), x[:0], y[:0], epochs=1, log=quiet)


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
