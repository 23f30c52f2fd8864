"""sparsenet.training: the loop on tiny synthetic data (what each epoch sees, seeded shuffling,
the learning-rate decay, the reported loss, the after_step hook, penalties, divergence, the
progress lines) and on real MNIST (the networks learn, deterministically)."""
import numpy as np
import pytest

from sparsenet import data, training
from sparsenet.losses import cross_entropy, weight_penalty
from sparsenet.models import Classifier, cnn4, fc2
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
        assert [len(b) for b in batches] == [8] * 6 + [2]                # full batches, then the remainder
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


@pytest.mark.parametrize("n,batch_size,sizes", [(255, 128, [128, 127]), (256, 128, [128, 128]),
                                                (257, 128, [128, 128, 1]), (5, 1, [1] * 5)])
def test_batches_are_consecutive_chunks_of_the_seeded_permutation(n, batch_size, sizes):
    """No batch holds more than batch_size images: the epoch's permutation cut in order, the
    last batch the remainder (PyTorch's DataLoader with drop_last=False)."""
    (epoch,) = batches_of(n=n, epochs=1, batch_size=batch_size, seed=7)
    assert [len(b) for b in epoch] == sizes
    np.testing.assert_array_equal(np.concatenate(epoch), np.random.default_rng(7).permutation(n))


def test_batch_size_may_be_a_numpy_integer():
    (epoch,) = batches_of(n=10, epochs=1, batch_size=np.int64(4), seed=0)
    assert [len(b) for b in epoch] == [4, 4, 2]


def test_fit_trains_the_network_inside_a_classifier():
    """fit(Classifier(net)) is fit(net): the same steps, the same bits."""
    rng = np.random.default_rng(8)
    x, y = rng.random((20, 28, 28)), rng.integers(0, 2, 20)
    nets = [fc2(seed=2), fc2(seed=2)]
    fit(nets[0], x, y, epochs=2, batch_size=6, log=None)
    fit(Classifier(nets[1]), x, y, epochs=2, batch_size=6, log=None)
    for a, b in zip(*(n.parameters() for n in nets)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(nets[0].parameters()[0], fc2(seed=2).parameters()[0])


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
    steps = 5                                                            # 4 batches of 5, then 3
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
    assert all(" val acc " in line and " img/s " in line and " ETA " in line for line in lines)


def test_without_a_validation_set_no_validation_column_is_logged():
    rng = np.random.default_rng(1)
    x, y = rng.random((20, 28, 28)), rng.integers(0, 2, 20)
    lines = []
    fit(fc2(seed=0), x, y, epochs=2, batch_size=10, log=lines.append)
    assert len(lines) == 2 and all("val" not in line and "nan" not in line for line in lines)
    assert all(" loss " in line and " img/s " in line and " ETA " in line for line in lines)


def test_progress_goes_to_stderr_by_default_and_log_none_is_silent(capsys):
    rng = np.random.default_rng(1)
    x, y = rng.random((12, 28, 28)), rng.integers(0, 2, 12)
    fit(fc2(seed=0), x, y, epochs=1, batch_size=4)
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("epoch 1/1  loss ")
    fit(fc2(seed=0), x, y, epochs=1, batch_size=4, log=None, progress_every=1e-9)
    assert capsys.readouterr() == ("", "")


def test_long_epochs_report_their_progress_inside_the_epoch():
    """Every progress_every seconds: images done of the epoch, the time so far, an ETA, the loss."""
    rng = np.random.default_rng(1)
    x, y = rng.random((12, 28, 28)), rng.integers(0, 2, 12)
    lines = []
    fit(fc2(seed=0), x, y, epochs=1, batch_size=4, log=lines.append, progress_every=1e-9)
    inside, last = lines[:-1], lines[-1]
    assert [line.split(":")[0] for line in inside] == ["  epoch 1/1"] * 3
    assert inside[0].startswith("  epoch 1/1: 4/12 images (33%), ") and "ETA" in inside[0] and "; loss " in inside[0]
    assert last.startswith("epoch 1/1  loss ")


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
    with pytest.raises(ValueError, match="l1 must be a finite number >= 0"):
        set_penalty(net, l1=-1.0)


def test_divergence_stops_with_advice():
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 28, 28)), rng.integers(0, 2, 16)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(fc2(dtype=np.float64), x, y, epochs=3, batch_size=4, optimizer="sgd", lr=1e200, log=quiet)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_divergence_restores_the_weights_before_the_failing_step(dtype):
    """The loss stops being finite after some step k: the weights are put back to those at the
    start of step k (the last with a finite loss), so a retry at a lower rate trains."""
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 28, 28)), rng.integers(0, 2, 16)
    net = fc2(seed=4, dtype=dtype)
    states = [[p.copy() for p in net.parameters()]]              # states[i]: after step i
    record = lambda n: states.append([p.copy() for p in n.parameters()])   # noqa: E731
    huge = 1e200 if dtype == np.float64 else 1e30
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as caught:
        fit(net, x, y, epochs=5, batch_size=4, optimizer="sgd", lr=huge, after_step=record, log=None)
    assert "the weights were restored to those before the failing step; lower the learning rate" in str(caught.value)
    steps = len(states) - 1
    assert steps >= 1
    for p, q in zip(net.parameters(), states[steps - 1]):
        np.testing.assert_array_equal(p, q)
    loss = cross_entropy(net.forward(x), y)[0]
    assert np.isfinite(loss) and all(np.isfinite(p).all() for p in net.parameters())
    history = fit(net, x, y, epochs=2, batch_size=4, optimizer="sgd", lr=1e-3, log=None)
    assert np.isfinite(history["loss"]).all()


def test_weights_that_break_on_the_last_step_of_an_epoch_are_restored_too():
    """The last step's weights have no loss of their own before the epoch ends: they are checked."""
    rng = np.random.default_rng(3)
    x, y = rng.random((8, 28, 28)), rng.integers(0, 2, 8)
    net = fc2(seed=4)
    start = [p.copy() for p in net.parameters()]
    poison = lambda n: n.weighted[0].params["W"].__setitem__((0, 0), np.nan)   # noqa: E731
    with pytest.raises(FloatingPointError, match="the weights became NaN or infinite; the weights were restored"):
        fit(net, x, y, epochs=1, batch_size=8, after_step=poison, log=None)
    for p, q in zip(net.parameters(), start):
        np.testing.assert_array_equal(p, q)


def test_a_network_whose_loss_is_not_finite_before_any_step_is_left_as_given():
    rng = np.random.default_rng(3)
    x, y = rng.random((8, 28, 28)), rng.integers(0, 2, 8)
    net = fc2(seed=4)
    net.weighted[0].params["W"][:] = 1e38                        # logits overflow to infinity
    given = [p.copy() for p in net.parameters()]
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="before any step, with the weights as given"):
        fit(net, x, y, epochs=1, batch_size=4, log=None)
    for p, q in zip(net.parameters(), given):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"epochs": 1, "batch_size": 0}, "batch_size must be an integer >= 1"),
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
