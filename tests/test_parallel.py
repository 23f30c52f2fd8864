"""The data-parallel wrapper (``parallel.DataParallel``) against the plain serial passes:
at evaluation the batch is cut into one slice per core and each slice runs on a replica of
the network and front end, so every logit and input gradient must be the serial pass's;
in training, fixed slices whose weight gradients are summed must give the serial gradients.
Not bit for bit: OpenBLAS picks its kernel by matrix size and thread count, and another
kernel sums in another order. So the comparisons run in float64, to 1e-12, where a wrong
slice, a stale replica or a mixed-up front-end state would be off by far more."""
import numpy as np
import pytest

from helpers import numerical_grad, rel_error
from sparsenet import parallel
from sparsenet.frontend import Sparsifier
from sparsenet.losses import cross_entropy
from sparsenet.models import Classifier, cnn4, fc2
from sparsenet.parallel import DataParallel

needs_blas = pytest.mark.skipif(parallel.openblas().set is None,
                                reason="no OpenBLAS whose thread count can be set: the path stays serial")


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setenv("SPARSENET_THREADS", "2")


def serial_pass(net, frontend, x, y):
    """The textbook pass on ``net`` itself."""
    logits = net.forward(x if frontend is None else frontend(x))
    _, seed = cross_entropy(logits, y, reduction="sum")
    g = net.backward(seed, param_grads=False)
    return logits, (g if frontend is None else frontend.vjp(x, g))


def assert_same(actual, desired):
    np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-12 * np.abs(desired).max())


@needs_blas
@pytest.mark.parametrize("frontend", [None, "exact", "straight-through", "bpda"])
def test_parallel_pass_is_the_serial_pass(two_threads, frontend):
    rng = np.random.default_rng(0)
    net = cnn4(seed=1, dtype=np.float64)
    x, y = rng.random((203, 28, 28)), rng.integers(0, 10, 203)   # odd: unequal slices
    fe = None if frontend is None else Sparsifier(gradient=frontend)
    clf = DataParallel(net, fe)
    logits = clf.forward(x)
    _, seed = cross_entropy(logits, y, reduction="sum")
    dx = clf.backward(seed)
    assert clf.slices == [slice(0, 101), slice(101, 203)]      # it did run in two slices
    ref_logits, ref_dx = serial_pass(net, None if fe is None else Sparsifier(gradient=frontend), x, y)
    assert_same(logits, ref_logits)
    assert_same(dx, ref_dx)
    assert dx.dtype == np.float64 and np.abs(dx).max() > 0


@needs_blas
def test_a_second_batch_reuses_the_replicas_and_forgets_the_first(two_threads):
    rng = np.random.default_rng(1)
    net = cnn4(seed=0, dtype=np.float64)
    clf = DataParallel(net)
    a, b = rng.random((2, 128, 28, 28))
    clf.forward(a)
    replicas = list(clf.replicas)
    logits = clf.forward(b)
    dx = clf.backward(np.ones_like(logits))
    assert [r[0] for r in clf.replicas] == [r[0] for r in replicas]
    ref_logits = net.forward(b)
    ref_dx = net.backward(np.ones_like(logits), param_grads=False)
    assert_same(logits, ref_logits)
    assert_same(dx, ref_dx)


@needs_blas
def test_parallel_path_gradient_check_float64(two_threads):
    """Finite differences through cnn4 on the parallel path (float64). (The front end's own
    gradient is checked in test_frontend; here it is the slicing that is under test.)"""
    rng = np.random.default_rng(2)
    clf = DataParallel(cnn4(seed=0, dtype=np.float64))
    x = rng.uniform(0.3, 0.7, (64, 28, 28))
    w = rng.standard_normal((64, 10))

    def f():
        return float((clf.forward(x) * w).sum())

    f()
    g = clf.backward(w)
    assert len(clf.slices) == 2
    idx = rng.choice(x.size, 16, replace=False)
    idx[:8] = rng.choice(np.arange(32 * 784, x.size), 8, replace=False)    # half in the second slice
    num = numerical_grad(f, x, idx, h=1e-5)
    assert rel_error(g.reshape(-1)[idx], num) < 1e-6


@needs_blas
def test_parallel_pass_leaves_the_networks_own_layers_alone(two_threads):
    net = cnn4(seed=0)
    x = np.random.default_rng(3).random((100, 28, 28), dtype=np.float32)
    net.forward(x[:5])
    DataParallel(net).forward(x)
    assert net.relus[0].switch.shape[0] == 5       # still the switches of net.forward(x[:5])


def test_a_plain_classifier_leaves_the_switches_of_its_input(two_threads):
    """Plain by default: after Classifier(net).forward(x), every switch of the network is
    the switch of net.forward(x), whatever the batch size or the core count."""
    net = cnn4(seed=0)
    x = np.random.default_rng(3).random((100, 28, 28), dtype=np.float32)
    Classifier(net).forward(x)
    got = [l.switch.copy() for l in net.relus + net.pools]
    net.forward(x)
    for a, b in zip(got, [l.switch for l in net.relus + net.pools]):
        np.testing.assert_array_equal(a, b)


def test_small_batches_and_small_networks_stay_serial(two_threads):
    rng = np.random.default_rng(4)
    small = DataParallel(cnn4(seed=0))
    small.forward(rng.random((2 * parallel.MIN_SLICE - 1, 28, 28), dtype=np.float32))
    assert small.slices == [slice(0, 2 * parallel.MIN_SLICE - 1)]
    binary = DataParallel(fc2(seed=0))
    binary.forward(rng.random((500, 28, 28), dtype=np.float32))
    assert binary.slices == [slice(0, 500)]
    assert binary.net.relus[0].switch.shape == (500, 10)    # serial: on the network itself


def test_one_thread_turns_the_parallel_path_off(monkeypatch):
    monkeypatch.setenv("SPARSENET_THREADS", "1")
    clf = DataParallel(cnn4(seed=0))
    clf.forward(np.zeros((200, 28, 28), np.float32))
    assert clf.slices == [slice(0, 200)] and clf.replicas == []


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("SPARSENET_THREADS", value)
    with pytest.raises(ValueError, match="SPARSENET_THREADS must be a whole number >= 1"):
        DataParallel(cnn4(seed=0)).forward(np.zeros((200, 28, 28), np.float32))


def test_backward_needs_a_forward_and_one_seed_per_example(two_threads):
    clf = DataParallel(cnn4(seed=0))
    with pytest.raises(RuntimeError, match="forward pass first"):
        clf.backward(np.zeros((4, 10), np.float32))
    clf.forward(np.zeros((100, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"dJ/dlogits of shape \(100, 10\)"):
        clf.backward(np.zeros((99, 10), np.float32))


@needs_blas
def test_replicas_follow_the_network_when_it_changes(two_threads):
    """New weights (load_state_dict writes in place) and a new dtype (astype) both reach
    the replicas; a new front end or network on the wrapper reaches them too."""
    rng = np.random.default_rng(5)
    net, other = cnn4(seed=0, dtype=np.float64), cnn4(seed=7, dtype=np.float64)
    clf = DataParallel(net)
    x = rng.random((100, 28, 28))
    clf.forward(x)
    net.load_state_dict(other.state_dict())
    assert_same(clf.forward(x), other.forward(x))
    net.astype(np.float32)
    assert clf.forward(x).dtype == np.float32
    clf.frontend = Sparsifier()
    x = x.astype(np.float32)
    np.testing.assert_allclose(clf.forward(x), net.forward(clf.frontend(x)), rtol=1e-5, atol=1e-5)
    assert all(type(r[1]) is Sparsifier for r in clf.replicas)
    clf.net = cnn4(seed=9)
    np.testing.assert_allclose(clf.forward(x), clf.net.forward(clf.frontend(x)), rtol=1e-5, atol=1e-5)


@pytest.fixture
def blas_at_two():
    """OpenBLAS set to two threads for the test, and put back as it was afterwards."""
    blas = parallel.openblas()
    before = blas.get()
    blas.set(2)
    yield blas
    blas.set(before)


@needs_blas
def test_blas_thread_count_is_restored_even_after_an_error(blas_at_two):
    with pytest.raises(KeyError):
        with parallel.single_threaded_blas():
            assert blas_at_two.get() == 1
            raise KeyError("boom")
    assert blas_at_two.get() == 2


@needs_blas
def test_overlapping_single_threaded_blocks_restore_the_count_once_all_have_left(blas_at_two):
    outer, inner = parallel.single_threaded_blas(), parallel.single_threaded_blas()
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)        # the first one out must not restore yet
    assert blas_at_two.get() == 1
    inner.__exit__(None, None, None)
    assert blas_at_two.get() == 2


@needs_blas
def test_bad_input_on_the_parallel_path_is_the_serial_paths_clear_error(two_threads, blas_at_two):
    """An error raised in one slice's thread reaches the caller as it is, after every slice
    has finished, and BLAS gets its threads back."""
    clf = DataParallel(cnn4(seed=0), Sparsifier())
    x = np.full((100, 28, 28), 0.5, np.float32)
    x[70, 3, 3] = np.nan                                  # in the second slice
    with pytest.raises(ValueError, match="NaN or infinite"):
        clf.forward(x)
    x[70, 3, 3] = 1.5
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        clf.forward(x)
    assert blas_at_two.get() == 2
    with pytest.raises(ValueError, match="expects input of shape"):
        DataParallel(cnn4(seed=0)).forward(np.float32(0.5))
    with pytest.raises(ValueError, match="expects input of shape"):
        DataParallel(cnn4(seed=0)).forward(np.zeros((100, 28, 27), np.float32))


@needs_blas
def test_a_failing_slice_waits_for_the_others_before_raising(two_threads):
    """Otherwise the slice still running would share its replica with the next pass."""
    import time

    class SlowOrFailing:
        finished = []

        def __call__(self, x):
            if x[0, 0, 0] < 0:
                raise ValueError("first slice fails at once")
            time.sleep(0.3)
            SlowOrFailing.finished.append(len(x))
            return x

    x = np.zeros((100, 28, 28), np.float32)
    x[0, 0, 0] = -1
    with pytest.raises(ValueError, match="fails at once"):
        DataParallel(fc2(seed=0), SlowOrFailing()).forward(x)
    assert SlowOrFailing.finished == [50]


# -- training: fixed slices, gradients summed ---------------------------------------------------
def serial_training_pass(net, x, y):
    logits = net.forward(x, train=True)
    _, grad = cross_entropy(logits, y)
    net.backward(grad, input_grad=False)
    return logits


def engine_training_pass(engine, x, y):
    logits = engine.forward(x, train=True)
    _, grad = cross_entropy(logits, y)
    assert engine.backward(grad, input_grad=False) is None
    return logits


@needs_blas
@pytest.mark.parametrize("threads, n, slices", [("1", 129, [slice(0, 64), slice(64, 129)]),
                                                 ("2", 129, [slice(0, 64), slice(64, 129)]),
                                                 ("2", 40, [slice(0, 40)])])    # an epoch's short last batch
def test_parallel_training_pass_is_the_serial_pass(monkeypatch, threads, n, slices):
    """Same logits, same dropout masks (drawn for the whole batch from the network's own
    generators), and the slices' weight gradients summed into the network's own grads."""
    monkeypatch.setenv("SPARSENET_THREADS", threads)
    rng = np.random.default_rng(2)
    x, y = rng.random((n, 28, 28)), rng.integers(0, 10, n)
    serial, net = cnn4(seed=4, dtype=np.float64), cnn4(seed=4, dtype=np.float64)
    engine = DataParallel(net)
    for step in range(2):                    # the second step reuses the replicas
        ref = serial_training_pass(serial, x[::-1] if step else x, y[::-1] if step else y)
        logits = engine_training_pass(engine, x[::-1] if step else x, y[::-1] if step else y)
        assert engine.slices == slices
        assert_same(logits, ref)
        for g, g_ref in zip(net.gradients(), serial.gradients()):
            assert_same(g, g_ref)
        drops = [i for i, l in enumerate(serial.layers) if type(l).__name__ == "Dropout"]
        for i in drops:
            masks = [r[0].layers[i].mask for r in engine.replicas[:len(slices)]]
            np.testing.assert_array_equal(np.concatenate(masks), serial.layers[i].mask)


@needs_blas
def test_parallel_training_is_the_same_bits_on_one_core_and_two(monkeypatch):
    """The slices do not depend on the thread count, so neither does a trained network (300
    images: batches of 128, 128 and the remainder, 44, which is one slice)."""
    from sparsenet.training import fit
    rng = np.random.default_rng(3)
    x, y = rng.random((300, 28, 28)).astype(np.float32), rng.integers(0, 10, 300)
    weights = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SPARSENET_THREADS", threads)
        net = cnn4(seed=5)
        fit(DataParallel(net), x, y, epochs=1, batch_size=128, seed=0, log=lambda msg: None)
        weights.append(net.parameters())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(weights[0][0], cnn4(seed=5).parameters()[0])     # it did train


@needs_blas
def test_parallel_training_weight_gradient_check_float64(two_threads):
    """dJ/dθ from the summed slices against central differences of J (mean cross-entropy;
    no dropout, so J is a function of θ alone), for entries of every weighted layer."""
    rng = np.random.default_rng(4)
    x, y = rng.random((130, 28, 28)), rng.integers(0, 10, 130)
    net = cnn4(seed=6, dropout=0.0, dtype=np.float64)
    engine = DataParallel(net)
    engine_training_pass(engine, x, y)
    assert len(engine.slices) == 2
    for layer in net.weighted:
        W, idx = layer.params["W"], rng.choice(layer.params["W"].size, 3, replace=False)
        numeric = numerical_grad(lambda: cross_entropy(net.forward(x), y)[0], W, idx)
        assert rel_error(layer.grads["W"].reshape(-1)[idx], numeric) < 1e-6, layer


def test_elementwise_covers_every_element_once_and_updates_strided_arrays_in_place(two_threads):
    """``elementwise`` (which sums the slices' weight gradients) cuts a large array into one
    flat piece per worker: each element is summed once. An array with no flat view (a strided
    view) is summed whole, in place: pieces of it would be copies, and the sum lost."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3 * parallel.MIN_PIECE + 1))
    total = np.zeros_like(a)
    base = np.zeros((600, 1000))
    view = base[:, :600]                                  # 360,000 elements, no flat view
    c, d = rng.standard_normal((2, *view.shape))

    def add_into(out, *parts):      # element by element, in place: an element added twice would show
        for part in parts:
            out += part
    parallel.elementwise(add_into, [(total, a, b), (view, c, d)])
    np.testing.assert_array_equal(total, a + b)
    np.testing.assert_array_equal(view, c + d)
    assert not base[:, 600:].any()


def test_small_networks_train_serially(two_threads):
    """fc2 is too small to gain from threads: the engine is the plain pass on the network."""
    rng = np.random.default_rng(5)
    x, y = rng.random((256, 28, 28)), rng.integers(0, 2, 256)
    serial, net = fc2(seed=0, dtype=np.float64), fc2(seed=0, dtype=np.float64)
    engine = DataParallel(net)
    np.testing.assert_array_equal(engine_training_pass(engine, x, y), serial_training_pass(serial, x, y))
    assert engine.slices is None and engine.replicas == []
    for g, g_ref in zip(net.gradients(), serial.gradients()):
        np.testing.assert_array_equal(g, g_ref)


@pytest.mark.parametrize("net_fn", [cnn4, fc2])      # the parallel path and the serial one
def test_training_backward_needs_a_forward_and_the_last_logits_shape(two_threads, net_fn):
    engine = DataParallel(net_fn(seed=0))
    with pytest.raises(RuntimeError, match="forward pass first"):
        engine.backward(np.zeros((128, 10), np.float32))
    logits = engine.forward(np.zeros((128, 28, 28), np.float32), train=True)
    for bad in [(100, logits.shape[1]), (128, logits.shape[1] + 1), (128,)]:
        with pytest.raises(ValueError, match=rf"dJ/dlogits of shape \(128, {logits.shape[1]}\).*got \({bad[0]},"):
            engine.backward(np.zeros(bad, np.float32), input_grad=False)
    engine.backward(np.zeros(logits.shape, np.float32), input_grad=False)     # the right shape still goes through
