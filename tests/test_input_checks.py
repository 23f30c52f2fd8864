"""Every bad input the public API refuses, and what it says: the table is the documentation.

How to read it: each row of ``ROWS`` is one case, ``(id, call, exception, fragment)``. The id
names the function or class and the bad input (``"pgd: eps < 0"``); ``call`` makes the call
(``ctx`` gives a small network, a classifier, images and labels, and a scratch folder); the
call must raise ``exception`` with ``fragment`` in its message. Run one row with
``pytest tests/test_input_checks.py -k "pgd and eps"``.

Conventions the rows show:

* the library raises ``ValueError`` naming the argument (``x``, ``y``, ``eps``, ``rho``...) and
  what it expected; ``RuntimeError`` for calls in the wrong order (``backward`` before any
  ``forward``); ``TypeError`` for an object of the wrong kind;
* data files: ``DataError`` (a ``ValueError``) naming the file; checkpoints: ``CheckpointError``
  (a ``ValueError``) naming the file and, for a bad weight, the parameter;
* images are floating point, finite and in [0, 1]: the attacks, the front end, ``Classifier``
  and ``DataParallel`` check the range (a ``Sequential`` network alone takes any finite input);
* ``run_all.py``: one ``error: ...`` line and exit status 2, before any work; usage errors are
  argparse's (``usage:`` and an error line, exit 2). Rows of run_all raise ``CommandLine``
  carrying the exit status and stderr.

* one network (and a ``Classifier`` or ``DataParallel`` holding it) serves one thread at a
  time: a pass begun while another thread's pass runs is a ``RuntimeError``;
* training settings (``fit``, ``set_penalty``) and the theory's arguments (``layer_bounds``,
  ``high_snr_fraction``, ``certified_radius``) are checked like images: ``ValueError`` naming
  the argument; a diverging ``fit`` is a ``FloatingPointError`` after restoring the weights;
* ``save_checkpoint`` refuses, before writing, what ``load_checkpoint`` could not read back.

Below the table: the behaviours of the issue that are not errors (zero images, the gradient
at the forward pass's x after the caller reuses its array, the file named on a full disk,
the file named in a folder one cannot write in).
"""
import contextlib
import errno
import importlib.util
import io
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from sparsenet import attacks, data, files, linear_model, parallel, theory, training, verify
from sparsenet.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from sparsenet.frontend import Sparsifier
from sparsenet.layers import Dense, Flatten, Layer, ReLU
from sparsenet.models import Classifier, Sequential, build, cnn4, fc2, prune
from sparsenet.parallel import DataParallel
from sparsenet.repro import runner

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_all", ROOT / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_all)


class CommandLine(Exception):
    """run_all.py ended with a non-zero status: ``str`` is "exit <status>: <stderr>"."""


# -- what the rows call -------------------------------------------------------------------
class Context:
    """A small cnn4 classifier, images in [0, 1] and labels, a scratch folder."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp, self.monkeypatch = tmp_path, monkeypatch
        self.net = cnn4(seed=1)
        self.clf = Classifier(self.net)
        self.binary = Classifier(fc2(seed=1))
        rng = np.random.default_rng(0)
        self.x = rng.random((3, 28, 28)).astype(np.float32)
        self.y = np.array([1, 2, 3])
        self.y01 = np.array([0, 1, 0])

    def images(self, **change):
        """self.x, changed: ``scale``, ``dtype``, ``shape``, or ``bad`` (a value put in one pixel)."""
        x = self.x * change.get("scale", 1)
        if "bad" in change:
            x = x.copy()
            x[0, 0, 0] = change["bad"]
        if "shape" in change:
            x = x.reshape(change["shape"])
        return x.astype(change.get("dtype", x.dtype))

    def checkpoint(self, key="1.W", value=None, arch="fc2"):
        """A saved network, with parameter ``key`` replaced by ``value`` when given."""
        path = self.tmp / "net.npz"
        net = build(arch, seed=0)
        save_checkpoint(path, net, {"note": "test"})
        if value is not None:
            stored = files.load_npz(path)
            old = stored[f"param/{key}"]
            stored[f"param/{key}"] = np.broadcast_to(np.asarray(value), old.shape).copy()
            files.save_npz(path, **stored)
        return path

    def checkpoint_with_header(self, **change):
        """A saved fc2 whose header has the entries of ``change`` (None: the entry removed)."""
        path = self.checkpoint()
        stored = files.load_npz(path)
        header = json.loads(str(stored["__arch__"]))
        header.update(change)
        stored["__arch__"] = np.array(json.dumps({k: v for k, v in header.items() if v is not None}))
        files.save_npz(path, **stored)
        return path

    def run_all(self, *argv, env=None):
        """run_all.cli(argv) with no experiment allowed to start: returns its status 0, or
        raises CommandLine("exit <status>: <stderr>")."""
        for k, v in (env or {}).items():
            self.monkeypatch.setenv(k, v)

        def refuse(*a, **k):
            raise AssertionError("run_all started work before refusing its input")
        self.monkeypatch.setattr(run_all, "reproduce", refuse)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = run_all.cli(list(argv))
            except SystemExit as e:         # argparse's usage errors
                code = e.code
        if code:
            raise CommandLine(f"exit {code}: {err.getvalue()}")
        return code

    def run_all_until_training(self, data_dir):
        """run_all --quick --only b2 with data from data_dir; training anything fails the test."""
        def no_training(*a, **k):
            raise AssertionError("a network trained before every data file was checked")
        self.monkeypatch.setattr(runner, "train_network", no_training)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = run_all.cli(["--quick", "--only", "b2", "--data-dir", str(data_dir), "--out", str(self.tmp / "out")])
        if code:
            raise CommandLine(f"exit {code}: {err.getvalue()}")


def _truncated_test_images(ctx, mnist_dir, fashion_mnist_dir):
    """A data folder holding the real files, with mnist's test images cut in half."""
    root = ctx.tmp / "data"
    for name, source in (("mnist", mnist_dir), ("fashion-mnist", fashion_mnist_dir)):
        (root / name).mkdir(parents=True)
        for f in Path(source).iterdir():
            (root / name / f.name).symlink_to(f.resolve())
    images = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = images.read_bytes()
    images.unlink()
    images.write_bytes(raw[:len(raw) // 2])
    return root


def _dp_backward_first(ctx):
    return DataParallel(ctx.net).backward(np.zeros((3, 10)))


def _dp_seed_shape(ctx):
    dp = DataParallel(ctx.net)
    dp.forward(ctx.x)
    return dp.backward(np.zeros((3, 5)))


def _after_forward(model, x):
    model.forward(x)
    return model


def _while_another_thread_runs_a_pass(net, call):
    """call() while another thread is inside net.forward, held there by its last layer."""
    inside, release = threading.Event(), threading.Event()
    layer = net.layers[-1]

    def held(x, train=False):
        inside.set()
        release.wait(30)
        return type(layer).forward(layer, x, train)
    layer.forward = held
    worker = threading.Thread(target=net.forward, args=(np.zeros((1, *net.input_shape), net.dtype),))
    worker.start()
    try:
        assert inside.wait(30)
        del layer.forward                  # this thread's own pass, if it runs, is not held
        return call()
    finally:
        release.set()
        worker.join()


class Tanh(Layer):
    """A smooth non-linearity: no switches, so no locally linear model."""

    def forward(self, x, train=False):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad, param_grads=True):
        return grad * (1 - self.y ** 2)


class Scale(Layer):
    """y = 10 x: linear, but not a layer Theorem 2's bounds account for."""

    def forward(self, x, train=False):
        return 10 * x

    def backward(self, grad, param_grads=True):
        return 10 * grad


def _net_with(layer, n_out=1):
    return Sequential([Flatten(), Dense(784, 10, rng=0), layer, ReLU(), Dense(10, n_out, rng=1)], arch="custom")


def _unwritable_folder(c):
    """save_checkpoint into a folder where creating a file is refused (as in /sys), whatever
    the user running the tests may do: mkstemp fails as it would there."""
    folder = c.tmp / "locked"

    def refuse(dir=None, prefix="", suffix="", **kw):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(dir, f"{prefix}x{suffix}"))
    c.monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    return save_checkpoint(folder / "a.npz", fc2())


def _diverging_fit(c):
    with np.errstate(all="ignore"):
        return training.fit(fc2(seed=1), c.x, c.y01, epochs=3, batch_size=1, optimizer="sgd", lr=1e30, log=None)


N = "NaN or infinite"
F = "floating"
RANGE = "[0, 1]"
ROWS = [
    # -- models.Sequential (a network alone) ---------------------------------------------
    ("Sequential.forward: x of another shape", lambda c: c.net.forward(c.images(shape=(3, 784))),
     ValueError, "cnn4 expects input of shape (B, 28, 28), got (3, 784)"),
    ("Sequential.forward: x not a batch", lambda c: c.net.forward(c.x[0]), ValueError, "expects input of shape"),
    ("Sequential.forward: integer x", lambda c: c.net.forward(c.images(scale=255, dtype=np.uint8)),
     ValueError, "input must be floating point (images in [0, 1]), got dtype uint8"),
    ("Sequential.forward: NaN in x", lambda c: c.net.forward(c.images(bad=np.nan)), ValueError, N),
    ("Sequential.forward: inf in x", lambda c: c.net.forward(c.images(bad=np.inf)), ValueError, N),
    ("Sequential.forward: strings", lambda c: c.net.forward(np.full((1, 28, 28), "a")), ValueError, F),
    ("Sequential.backward: before any forward", lambda c: cnn4().backward(np.zeros((3, 10))),
     RuntimeError, "cnn4.backward needs a forward pass first"),
    ("Sequential.backward: seed (3, 5) for (3, 10) logits",
     lambda c: _after_forward(c.net, c.x).backward(np.zeros((3, 5))),
     ValueError, "backward expects dJ/dlogits of shape (3, 10) (the last forward's logits), got (3, 5)"),
    # -- models.Classifier -----------------------------------------------------------------
    ("Classifier.forward: images in [0, 255]", lambda c: c.clf.forward(c.images(scale=255)),
     ValueError, "images must lie in [0, 1] (pixels / 255), got values in ["),
    ("Classifier.forward: negative pixel", lambda c: c.clf.forward(c.images(bad=-0.5)), ValueError, RANGE),
    ("Classifier.forward: NaN in x", lambda c: c.clf.forward(c.images(bad=np.nan)), ValueError, N),
    ("Classifier.forward: inf in x", lambda c: c.clf.forward(c.images(bad=np.inf)), ValueError, N),
    ("Classifier.forward: integer x", lambda c: c.clf.forward(c.images(scale=255, dtype=np.uint8)), ValueError, F),
    ("Classifier.forward: x of another shape", lambda c: c.clf.forward(c.images(shape=(3, 784))),
     ValueError, "expects input of shape"),
    ("Classifier.forward with front end: images in [0, 255]",
     lambda c: Classifier(c.net, Sparsifier()).forward(c.images(scale=255)), ValueError, RANGE),
    ("Classifier.backward: before any forward", lambda c: Classifier(cnn4()).backward(np.zeros((3, 10))),
     RuntimeError, "needs a forward pass first"),
    ("Classifier.backward with front end: before any forward",
     lambda c: Classifier(_after_forward(c.net, c.x), Sparsifier()).backward(np.zeros((3, 10))), RuntimeError,
     "Classifier.backward needs a forward pass first"),
    ("Classifier.backward: seed (3, 5) for (3, 10) logits",
     lambda c: _after_forward(c.clf, c.x).backward(np.zeros((3, 5))), ValueError, "of shape (3, 10)"),
    ("Sequential.forward: while another thread runs a pass",
     lambda c: _while_another_thread_runs_a_pass(c.net, lambda: c.net.forward(c.x)), RuntimeError,
     "cnn4 is running a pass in another thread: a network, and a Classifier holding it, keeps per-call state"),
    ("Sequential.backward: while another thread runs a pass",
     lambda c: _while_another_thread_runs_a_pass(_after_forward(c.net, c.x), lambda: c.net.backward(np.zeros((3, 10)))),
     RuntimeError, "cannot be shared between threads"),
    ("Classifier.logits: while another thread runs a pass of its network",
     lambda c: _while_another_thread_runs_a_pass(c.net, lambda: c.clf.logits(c.x)), RuntimeError,
     "give each thread its own copy (copy.deepcopy(net)), or use parallel.DataParallel(net), which runs replicas"),
    ("Classifier.vjp with front end: while another thread runs a pass",
     lambda c: _while_another_thread_runs_a_pass(c.net, lambda: Classifier(c.net, Sparsifier()).vjp(c.x, np.ones((3, 10)))),
     RuntimeError, "cannot be shared between threads"),
    ("Sequential: integer dtype", lambda c: fc2(dtype=np.int32), ValueError,
     "dtype must be a floating-point type (float32 or float64), got int32"),
    ("Sequential.astype: integer dtype", lambda c: c.net.astype(np.int32), ValueError,
     "dtype must be a floating-point type (float32 or float64), got int32"),
    ("fc2: hidden 2.5", lambda c: fc2(hidden=2.5), ValueError, "hidden must be an integer >= 1, got 2.5"),
    ("Classifier: a DataParallel inside", lambda c: Classifier(DataParallel(c.net)), TypeError,
     "Classifier takes a network (a Sequential), got a DataParallel: to run a classifier on all cores write "
     "DataParallel(Classifier(net, frontend)) or DataParallel(net, frontend)"),
    ("Classifier.predict: batch_size -1", lambda c: c.clf.predict(c.x, batch_size=-1), ValueError,
     "batch_size must be an integer >= 1, got -1"),
    ("Classifier.predict: batch_size 0", lambda c: c.clf.predict(c.x, batch_size=0), ValueError,
     "batch_size must be an integer >= 1, got 0"),
    ("build: unknown architecture", lambda c: build("resnet"), ValueError, "unknown architecture 'resnet'"),
    ("prune: rho > 1", lambda c: prune(c.net.weighted[-1], 1.5), ValueError, "rho must be in (0, 1], got 1.5"),
    ("prune: rho = 0", lambda c: prune(c.net.weighted[-1], 0), ValueError, "rho must be in (0, 1]"),
    ("prune: unknown rule", lambda c: prune(c.net.weighted[-1], 0.5, "row"), ValueError, "prune rule must be one of"),
    # -- parallel.DataParallel -------------------------------------------------------------
    ("DataParallel: not a network", lambda c: DataParallel("cnn4"), TypeError,
     "DataParallel wraps a Sequential network or a Classifier, got str"),
    ("DataParallel: two front ends", lambda c: DataParallel(Classifier(c.net, Sparsifier()), Sparsifier()),
     ValueError, "takes the front end of clf"),
    ("DataParallel.forward: images in [0, 255]", lambda c: DataParallel(c.net).forward(c.images(scale=255)),
     ValueError, "images must lie in [0, 1]"),
    ("DataParallel.forward: NaN in x", lambda c: DataParallel(c.net).forward(c.images(bad=np.nan)), ValueError, N),
    ("DataParallel.forward: x of another shape", lambda c: DataParallel(c.net).forward(c.images(shape=(3, 784))),
     ValueError, "expects input of shape"),
    ("DataParallel.backward: before any forward", _dp_backward_first, RuntimeError, "needs a forward pass first"),
    ("DataParallel.backward: seed (3, 5) for (3, 10) logits", _dp_seed_shape, ValueError, "of shape (3, 10)"),
    ("DataParallel.forward: while another thread runs a pass of its network",     # 70 images: run on replicas
     lambda c: _while_another_thread_runs_a_pass(
         c.net, lambda: DataParallel(c.net).forward(np.random.default_rng(0).random((70, 28, 28)))),
     RuntimeError, "cnn4 is running a pass in another thread"),
    ("DataParallel.logits: batch_size 2.5", lambda c: DataParallel(c.net).logits(c.x, batch_size=2.5), ValueError,
     "batch_size must be an integer >= 1, got 2.5"),
    ("DataParallel: training pass behind a front end",
     lambda c: DataParallel(c.net, Sparsifier()).forward(c.x, train=True), ValueError, "sparsify the training images"),
    ("parallel.workers: SPARSENET_THREADS=abc",
     lambda c: (c.monkeypatch.setenv("SPARSENET_THREADS", "abc"), parallel.workers()),
     ValueError, "SPARSENET_THREADS must be a whole number >= 1, got 'abc'"),
    ("parallel.workers: SPARSENET_THREADS=0",
     lambda c: (c.monkeypatch.setenv("SPARSENET_THREADS", "0"), parallel.workers()), ValueError, "got '0'"),
    # -- checkpoints -------------------------------------------------------------------------
    ("load_checkpoint: no such file", lambda c: load_checkpoint(c.tmp / "none.npz"), CheckpointError, "no checkpoint at"),
    ("load_checkpoint: empty file", lambda c: (c.tmp.joinpath("e.npz").write_bytes(b""),
                                                load_checkpoint(c.tmp / "e.npz")), CheckpointError, "the file is empty"),
    ("load_checkpoint: not an npz", lambda c: (c.tmp.joinpath("t.npz").write_text("weights"),
                                               load_checkpoint(c.tmp / "t.npz")), CheckpointError, "not an .npz archive"),
    ("load_checkpoint: truncated", lambda c: (c.tmp.joinpath("cut.npz").write_bytes(c.checkpoint().read_bytes()[:500]),
                                              load_checkpoint(c.tmp / "cut.npz")), CheckpointError, "cut.npz is not a usable sparsenet checkpoint: truncated"),
    ("load_checkpoint: NaN weight", lambda c: load_checkpoint(c.checkpoint("1.W", np.nan)),
     CheckpointError, "net.npz is not a usable sparsenet checkpoint: parameter 1.W: holds NaN or infinite values"),
    ("load_checkpoint: inf weight", lambda c: load_checkpoint(c.checkpoint("1.b", np.inf)),
     CheckpointError, "parameter 1.b: holds NaN or infinite values"),
    ("load_checkpoint: complex weights", lambda c: load_checkpoint(c.checkpoint("1.W", 1 + 2j)),
     CheckpointError, "parameter 1.W: holds complex128 values, not real floating-point numbers"),
    ("load_checkpoint: boolean weights", lambda c: load_checkpoint(c.checkpoint("1.W", True)),
     CheckpointError, "parameter 1.W: holds bool values"),
    ("load_checkpoint: integer weights", lambda c: load_checkpoint(c.checkpoint("3.b", 1)),
     CheckpointError, "parameter 3.b: holds int64 values"),
    ("load_checkpoint: another architecture", lambda c: load_checkpoint(c.checkpoint(), arch="cnn4"),
     CheckpointError, "holds a 'fc2' network, not 'cnn4'"),
    ("load_checkpoint: a float64 weight beyond float32's range", lambda c: load_checkpoint(c.checkpoint("1.W", 1e39)),
     CheckpointError, "net.npz is not a usable sparsenet checkpoint: parameter 1.W: holds values beyond float32's "
     "range (largest magnitude 1e+39), which would become infinite"),
    ("load_checkpoint: hidden = 10**12 in the header",
     lambda c: load_checkpoint(c.checkpoint_with_header(config={"seed": 0, "hidden": 10 ** 12})), CheckpointError,
     "net.npz is not a usable sparsenet checkpoint: the header's config {'seed': 0, 'hidden': 1000000000000} asks "
     "for a fc2 too large to build"),
    ("load_checkpoint: format 99", lambda c: load_checkpoint(c.checkpoint_with_header(format=99)), CheckpointError,
     "net.npz is not a usable sparsenet checkpoint: written in checkpoint format 99, by a newer sparsenet: this one "
     "reads formats 1 to 2"),
    ("load_checkpoint: format as text", lambda c: load_checkpoint(c.checkpoint_with_header(format="2")),
     CheckpointError, "the header's format '2' is not a checkpoint format number"),
    ("load_checkpoint: an unknown header key", lambda c: load_checkpoint(c.checkpoint_with_header(layers=[])),
     CheckpointError, "net.npz is not a usable sparsenet checkpoint: the header has keys format 2 does not have: 'layers'"),
    ("load_checkpoint: a format-2 key in a format-1 header",
     lambda c: load_checkpoint(c.checkpoint_with_header(format=None, note="x")), CheckpointError,
     "the header has keys format 1 does not have: 'note'"),
    ("save_checkpoint: metadata a list", lambda c: save_checkpoint(c.tmp / "n.npz", fc2(), metadata=[1, 2]),
     ValueError, "metadata must be a dict (a JSON object), got list: [1, 2]"),
    ("save_checkpoint: metadata that is not JSON", lambda c: save_checkpoint(c.tmp / "n.npz", fc2(), {"f": print}),
     ValueError, "metadata must be a dict of JSON values (numbers, text, lists, dicts): "),
    ("save_checkpoint: a custom Sequential",
     lambda c: save_checkpoint(c.tmp / "n.npz", Sequential([Flatten(), Dense(784, 2)])), ValueError,
     "save_checkpoint saves the networks models.build makes (cnn4, fc10, fc2); got a 'custom' network, which "
     "load_checkpoint could not rebuild"),
    ("save_checkpoint: layers that are not the config's",
     lambda c: save_checkpoint(c.tmp / "n.npz", Sequential(fc2().layers, arch="fc2", config={"hidden": 20})),
     ValueError, "the network's layers are not those of build('fc2', **{'hidden': 20}): load_checkpoint could not "
     "rebuild it"),
    ("save_checkpoint: a folder one cannot write in", _unwritable_folder, PermissionError,
     os.path.join("locked", "a.npz'")),
    # -- frontend.Sparsifier ----------------------------------------------------------------
    ("Sparsifier: unknown basis", lambda c: Sparsifier(basis="fourier"), ValueError, "unknown basis 'fourier'"),
    ("Sparsifier: rho = 0", lambda c: Sparsifier(rho=0), ValueError, "rho must be a number in (0, 1], got 0"),
    ("Sparsifier: rho as text", lambda c: Sparsifier(rho="3%"), ValueError, "rho must be a number"),
    ("Sparsifier: unknown gradient", lambda c: Sparsifier(gradient="none"), ValueError, "gradient must be one of"),
    ("Sparsifier: level 0", lambda c: Sparsifier(level=0), ValueError, "level must be an integer >= 1"),
    ("Sparsifier: level too deep for 28x28", lambda c: Sparsifier(level=3), ValueError, "needs image sides divisible"),
    ("Sparsifier: odd shape", lambda c: Sparsifier(shape=(28,)), ValueError, "shape must be (H, W)"),
    ("Sparsifier(x): images in [0, 255]", lambda c: Sparsifier()(c.images(scale=255)), ValueError,
     "images must lie in [0, 1]"),
    ("Sparsifier(x): NaN", lambda c: Sparsifier()(c.images(bad=np.nan)), ValueError, "NaN or infinite"),
    ("Sparsifier(x): integer images", lambda c: Sparsifier()(c.images(dtype=np.int64)), ValueError, F),
    ("Sparsifier(x): 32x32 images", lambda c: Sparsifier()(np.zeros((1, 32, 32))), ValueError,
     "front end built for 28x28 images"),
    ("Sparsifier.vjp: gradient of another shape", lambda c: Sparsifier().vjp(c.x, np.zeros((2, 28, 28))),
     ValueError, "gradient shape (2, 28, 28) differs from input shape (3, 28, 28)"),
    # -- linear_model -------------------------------------------------------------------------
    ("equivalent_linear: classifier with front end",
     lambda c: linear_model.equivalent_linear(Classifier(c.net, Sparsifier()), c.x), ValueError,
     "pass the network, or clf.without_frontend()"),
    ("equivalent_linear: x of another shape", lambda c: linear_model.equivalent_linear(c.net, c.images(shape=(3, 784))),
     ValueError, "expects input of shape"),
    ("equivalent_linear (fc2): NaN in x", lambda c: linear_model.equivalent_linear(c.binary.net, c.images(bad=np.nan)),
     ValueError, N),
    ("equivalent_linear (cnn4): integer x", lambda c: linear_model.equivalent_linear(c.net, c.images(dtype=np.int64)),
     ValueError, F),
    ("equivalent_linear: one image without the batch axis", lambda c: linear_model.equivalent_linear(c.net, c.x[0]),
     ValueError, "cnn4 expects input of shape (B, 28, 28), got (28, 28)"),
    ("equivalent_linear: a layer that is not piecewise linear",
     lambda c: linear_model.equivalent_linear(_net_with(Tanh()), c.x), ValueError,
     "w_eq(x) needs a piecewise-linear network (layers Conv2D, Dense, ReLU, MaxPool2D, Dropout, Reshape, Flatten); "
     "unsupported layers: ['Tanh']"),
    # -- theory --------------------------------------------------------------------------------
    ("layer_bounds: eps < 0", lambda c: theory.layer_bounds(c.net, -0.1), ValueError,
     "eps must be a finite number >= 0, got -0.1"),
    ("layer_bounds: eps NaN", lambda c: theory.layer_bounds(c.net, float("nan")), ValueError,
     "eps must be a finite number >= 0, got nan"),
    ("layer_bounds: classifier with front end", lambda c: theory.layer_bounds(Classifier(c.net, Sparsifier()), 0.1),
     ValueError, "Theorem 2 bounds the network alone: pass the network, or clf.without_frontend()"),
    ("certified_radius: a layer Theorem 2 does not cover",
     lambda c: theory.certified_radius(_net_with(Scale()), c.x, c.y01), ValueError,
     "Theorem 2 needs 1-Lipschitz non-linearities; unsupported layers: ['Scale']"),
    ("certified_radius: labels of shape (n, 1)", lambda c: theory.certified_radius(c.net, c.x, c.y[:, None]),
     ValueError, "y must have shape (3,) to match x, got (3, 1)"),
    ("certified_radius: label 5 for a one-logit network",
     lambda c: theory.certified_radius(c.binary.net, c.x, np.array([0, 5, 1])), ValueError,
     "y: labels must be integers in [0, 1], got values in [0, 5]"),
    ("certified_radius: label 10 of 10 classes", lambda c: theory.certified_radius(c.net, c.x, np.array([1, 2, 10])),
     ValueError, "y: labels must be integers in [0, 9], got values in [1, 10]"),
    ("certified_radius: float labels", lambda c: theory.certified_radius(c.net, c.x, c.y.astype(float)), ValueError,
     "y: labels must be integers in [0, 9], got dtype float64"),
    ("high_snr_fraction: delta NaN", lambda c: theory.high_snr_fraction(100, delta=float("nan")), ValueError,
     "delta must be a finite number >= 0, got nan"),
    ("high_snr_fraction: trials 0", lambda c: theory.high_snr_fraction(100, trials=0), ValueError,
     "trials must be an integer >= 1, got 0"),
    ("high_snr_fraction: N 2.5", lambda c: theory.high_snr_fraction(2.5), ValueError, "N must be an integer >= 1, got 2.5"),
    # -- training.fit ---------------------------------------------------------------------------
    ("fit: fewer labels than images", lambda c: training.fit(c.net, c.x, c.y[:2], epochs=1), ValueError,
     "need as many labels as images (> 0), got 3 images and 2 labels"),
    ("fit: no images", lambda c: training.fit(c.net, c.x[:0], c.y[:0], epochs=1), ValueError, "got 0 images"),
    ("fit: epochs = 0", lambda c: training.fit(c.net, c.x, c.y, epochs=0), ValueError, "epochs must be an integer >= 1, got 0"),
    ("fit: epochs 2.5", lambda c: training.fit(c.net, c.x, c.y, epochs=2.5), ValueError,
     "epochs must be an integer >= 1, got 2.5"),
    ("fit: batch_size 0", lambda c: training.fit(c.net, c.x, c.y, epochs=1, batch_size=0), ValueError,
     "batch_size must be an integer >= 1, got 0"),
    ("fit: batch_size -3", lambda c: training.fit(c.net, c.x, c.y, epochs=1, batch_size=-3), ValueError,
     "batch_size must be an integer >= 1, got -3"),
    ("fit: batch_size NaN", lambda c: training.fit(c.net, c.x, c.y, epochs=1, batch_size=float("nan")), ValueError,
     "batch_size must be an integer >= 1, got nan"),
    ("fit: batch_size 2.5", lambda c: training.fit(c.net, c.x, c.y, epochs=1, batch_size=2.5), ValueError,
     "batch_size must be an integer >= 1, got 2.5"),
    ("fit: batch_size True", lambda c: training.fit(c.net, c.x, c.y, epochs=1, batch_size=True), ValueError,
     "batch_size must be an integer >= 1, got True"),
    ("fit: lr_decay -1", lambda c: training.fit(c.net, c.x, c.y, epochs=1, lr_decay=-1), ValueError,
     "lr_decay must be a finite number > 0 (the learning rate's factor after every epoch), got -1"),
    ("fit: lr_decay NaN", lambda c: training.fit(c.net, c.x, c.y, epochs=1, lr_decay=float("nan")), ValueError,
     "lr_decay must be a finite number > 0"),
    ("fit: x_val without y_val", lambda c: training.fit(c.net, c.x, c.y, epochs=1, x_val=c.x), ValueError,
     "x_val and y_val go together: pass both (a validation set) or neither, got x_val without y_val"),
    ("fit: y_val of another length", lambda c: training.fit(c.net, c.x, c.y, epochs=1, x_val=c.x, y_val=c.y[:2]),
     ValueError, "y_val must have shape (3,) to match x_val, got (2,)"),
    ("fit: log that is not a function", lambda c: training.fit(c.net, c.x, c.y, epochs=1, log="stderr"), ValueError,
     "log must be a function of one line of text, or None for silence, got 'stderr'"),
    ("fit: lr 1e30 (diverges)", _diverging_fit, FloatingPointError,
     "the weights were restored to those before the failing step; lower the learning rate (it was 1e+30)"),
    ("set_penalty: l1 NaN", lambda c: training.set_penalty(c.net, l1=float("nan")), ValueError,
     "l1 must be a finite number >= 0, got nan"),
    ("set_penalty: l2 < 0", lambda c: training.set_penalty(c.net, l2=-1), ValueError,
     "l2 must be a finite number >= 0, got -1"),
    ("accuracy: labels of shape (n, 1)", lambda c: training.accuracy(c.net, c.x, c.y[:, None]), ValueError,
     "y must have shape (3,) to match x, got (3, 1)"),
    ("accuracy: fewer labels than images", lambda c: training.accuracy(c.net, c.x, c.y[:2]), ValueError,
     "y must have shape (3,) to match x, got (2,)"),
    ("accuracy: batch_size 0", lambda c: training.accuracy(c.net, c.x, c.y, batch_size=0), ValueError,
     "batch_size must be an integer >= 1, got 0"),
    ("fit: unknown optimizer", lambda c: training.fit(c.net, c.x, c.y, epochs=1, optimizer="lbfgs"), ValueError,
     "unknown optimizer 'lbfgs'"),
    ("fit: classifier with front end", lambda c: training.fit(Classifier(c.net, Sparsifier()), c.x, c.y, epochs=1),
     ValueError, "fit trains the network alone"),
    ("fit: labels out of range", lambda c: training.fit(c.net, c.x, np.array([1, 2, 10]), epochs=1, log=print),
     ValueError, "y: labels must be integers in [0, 9], got values in [1, 10]"),
    ("fit: float labels", lambda c: training.fit(c.net, c.x, c.y.astype(float), epochs=1, log=print),
     ValueError, "labels must be integers"),
    ("fit: NaN in x", lambda c: training.fit(c.net, c.images(bad=np.nan), c.y, epochs=1, log=print), ValueError, N),
    ("fit: lr = 0", lambda c: training.fit(c.net, c.x, c.y, epochs=1, lr=0), ValueError, "lr must be a finite number > 0"),
    # -- data -------------------------------------------------------------------------------------
    ("load_dataset: unknown dataset", lambda c: data.load_dataset("cifar10", "train"), ValueError,
     "unknown dataset name 'cifar10'"),
    ("load_dataset: unknown split", lambda c: data.load_dataset("mnist", "validation"), ValueError, "unknown split"),
    ("load_dataset: nowhere to be found", lambda c: data.load_dataset("mnist", "test", data_dir=c.tmp, download=False)
     if not (c.monkeypatch.delenv(data.ENV_VAR, raising=False) or c.monkeypatch.setattr(data, "REPO_DATA_DIR", c.tmp / "r"))
     else None, data.DataNotFoundError, "mnist 'test' split not found"),
    ("read_idx: no such file", lambda c: data.read_idx(c.tmp / "x.gz", data.IMAGES_MAGIC), data.DataNotFoundError,
     "x.gz: file does not exist"),
    ("read_idx: not gzip", lambda c: (c.tmp.joinpath("x.gz").write_bytes(b"not gzip"),
                                      data.read_idx(c.tmp / "x.gz", data.IMAGES_MAGIC)), data.CorruptFileError,
     "x.gz: not a valid gzip file"),
    ("read_idx: truncated", lambda c: (c.tmp.joinpath("x").write_bytes(b"\0\0\x08\x03" + bytes([0, 0, 0, 9, 0, 0, 0, 28,
                                                                                                0, 0, 0, 28]) + b"\0" * 99),
                                       data.read_idx(c.tmp / "x", data.IMAGES_MAGIC)), data.IDXFormatError, "x: truncated"),
    ("read_idx: labels file as images", lambda c: (c.tmp.joinpath("x").write_bytes(b"\0\0\x08\x01\0\0\0\x01\x05"),
                                                   data.read_idx(c.tmp / "x", data.IMAGES_MAGIC)), data.IDXFormatError,
     "wrong magic number 2049"),
    ("train_val_split: val_size = n", lambda c: data.train_val_split(c.x, c.y, 3, 0), ValueError,
     "val_size must leave both parts non-empty"),
    ("train_val_split: val_size 1.5", lambda c: data.train_val_split(c.x, c.y, 1.5, 0), ValueError,
     "a fractional val_size must be in (0, 1), got 1.5"),
    ("train_val_split: val_size as text", lambda c: data.train_val_split(c.x, c.y, "10%", 0), ValueError,
     "val_size must be a number of examples or a fraction"),
    ("train_val_split: lengths differ", lambda c: data.train_val_split(c.x, c.y[:2], 1, 0), ValueError,
     "images and labels differ in length: 3 vs 2"),
    ("binary_subset: one class", lambda c: data.binary_subset(c.x, c.y, (3, 3)), ValueError,
     "classes must be two different labels"),
    # -- attacks ----------------------------------------------------------------------------------
    ("fgsm: images in [0, 255]", lambda c: attacks.fgsm(c.clf, c.images(scale=255), c.y, 0.1), ValueError,
     "x must lie in [0, 1], got values in ["),
    ("fgsm: NaN in x", lambda c: attacks.fgsm(c.clf, c.images(bad=np.nan), c.y, 0.1), ValueError,
     "x must be finite floating-point images"),
    ("fgsm: integer x", lambda c: attacks.fgsm(c.clf, c.images(dtype=np.int64), c.y, 0.1), ValueError,
     "x must be finite floating-point images"),
    ("fgsm: x of another shape", lambda c: attacks.fgsm(c.clf, c.images(shape=(3, 784)), c.y, 0.1), ValueError,
     "x must have shape (n, 28, 28), got (3, 784)"),
    ("fgsm: fewer labels than images", lambda c: attacks.fgsm(c.clf, c.x, c.y[:2], 0.1), ValueError,
     "y must have shape (3,) to match x, got (2,)"),
    ("fgsm: label 10 of 10 classes", lambda c: attacks.fgsm(c.clf, c.x, np.array([1, 2, 10]), 0.1), ValueError,
     "labels must be integers in [0, 9]"),
    ("fgsm: label 2 for a binary network", lambda c: attacks.fgsm(c.binary, c.x, np.array([0, 1, 2]), 0.1),
     ValueError, "labels must be integers in [0, 1]"),
    ("fgsm: float labels", lambda c: attacks.fgsm(c.clf, c.x, c.y.astype(float), 0.1), ValueError,
     "labels must be integers"),
    ("fgsm: eps < 0", lambda c: attacks.fgsm(c.clf, c.x, c.y, -0.1), ValueError, "eps must be a finite number >= 0, got -0.1"),
    ("fgsm: eps NaN", lambda c: attacks.fgsm(c.clf, c.x, c.y, float("nan")), ValueError, "eps must be a finite number"),
    ("fgsm: eps None", lambda c: attacks.fgsm(c.clf, c.x, c.y, None), ValueError, "eps (the l-infinity budget"),
    ("fgsm: eps as text", lambda c: attacks.fgsm(c.clf, c.x, c.y, "0.1"), ValueError, "eps must be a finite number"),
    ("fgsm: batch_size 0", lambda c: attacks.fgsm(c.clf, c.x, c.y, 0.1, batch_size=0), ValueError,
     "batch_size must be a positive integer, got 0"),
    ("pgd: delta 0", lambda c: attacks.pgd(c.clf, c.x, c.y, 0.1, 0, 5), ValueError, "delta must be a finite number > 0, got 0"),
    ("pgd: iterations 0", lambda c: attacks.pgd(c.clf, c.x, c.y, 0.1, 0.01, 0), ValueError,
     "iterations must be a positive integer, got 0"),
    ("pgd: restarts 0", lambda c: attacks.pgd(c.clf, c.x, c.y, 0.1, 0.01, 1, restarts=0), ValueError,
     "restarts must be a positive integer, got 0"),
    ("pgd: `only` mask of another length", lambda c: attacks.pgd(c.clf, c.x, c.y, 0.1, 0.01, 1, only=np.ones(2, bool)),
     ValueError, "a boolean `only` mask must have shape (3,)"),
    ("iterative_fgsm: images in [0, 255]", lambda c: attacks.iterative_fgsm(c.clf, c.images(scale=255), c.y, 0.1, 0.01, 2),
     ValueError, "x must lie in [0, 1]"),
    ("mi_fgsm: eps < 0", lambda c: attacks.mi_fgsm(c.clf, c.x, c.y, -1, 0.01, 2), ValueError, "eps must be"),
    ("locally_linear: unknown mode", lambda c: attacks.locally_linear(c.clf, c.x, c.y, 0.1, mode="black"),
     ValueError, "mode must be 'semi-white' or 'white', got 'black'"),
    ("locally_linear: iterations without delta", lambda c: attacks.locally_linear(c.clf, c.x, c.y, 0.1, iterations=3),
     ValueError, "needs a step size delta"),
    ("carlini_wagner_l2: images in [0, 255]", lambda c: attacks.carlini_wagner_l2(c.clf, c.images(scale=255), c.y),
     ValueError, "x must lie in [0, 1]"),
    ("carlini_wagner_l2: lr 0", lambda c: attacks.carlini_wagner_l2(c.clf, c.x, c.y, lr=0), ValueError,
     "lr must be a finite number > 0, got 0"),
    ("apgd: unknown loss", lambda c: attacks.apgd(c.clf, c.x, c.y, 0.1, loss="hinge"), ValueError,
     "unknown APGD loss 'hinge'"),
    ("apgd: rho 2", lambda c: attacks.apgd(c.clf, c.x, c.y, 0.1, rho=2), ValueError, "rho must be a number in (0, 1], got 2"),
    ("apgd: eps as text", lambda c: attacks.apgd(c.clf, c.x, c.y, "0.1"), ValueError, "eps must be a finite number"),
    ("apgd_targeted: a binary network", lambda c: attacks.apgd_targeted(c.binary, c.x, c.y01, 0.1), ValueError,
     "APGD-T needs at least 4 classes"),
    ("apgd_targeted: n_targets 10", lambda c: attacks.apgd_targeted(c.clf, c.x, c.y, 0.1, n_targets=10), ValueError,
     "n_targets must be an integer in [1, 9]"),
    ("square: queries 0", lambda c: attacks.square(c.clf, c.x, c.y, 0.1, queries=0), ValueError,
     "queries must be a positive integer, got 0"),
    ("square: p_init 0", lambda c: attacks.square(c.clf, c.x, c.y, 0.1, p_init=0), ValueError,
     "p_init must be a number in (0, 1], got 0"),
    ("worst_case: no images", lambda c: attacks.worst_case(c.clf, c.x[:0], c.y[:0], 0.1), ValueError,
     "worst_case needs at least one image: a robust accuracy over none is undefined"),
    ("worst_case: images in [0, 255]", lambda c: attacks.worst_case(c.clf, c.images(scale=255), c.y, 0.1), ValueError,
     "x must lie in [0, 1]"),
    ("worst_case: attack named 'clean'", lambda c: attacks.worst_case(c.clf, c.x, c.y, 0.1, [attacks.Attack("clean", None)]),
     ValueError, "attack names must be distinct"),
    ("build_suite: unknown attack", lambda c: attacks.build_suite(["deepfool"]), ValueError, "unknown attack 'deepfool'"),
    ("build_suite: transfer without source", lambda c: attacks.build_suite(["transfer"]), ValueError,
     "a transfer attack needs source="),
    ("random_sign: eps < 0", lambda c: attacks.random_sign(c.clf, c.x, c.y, -0.1), ValueError,
     "eps must be a finite number >= 0"),
    # -- attack settings: checked when the attack is called or built (attacks.make, build_suite) --------
    ("mi_fgsm: mu NaN", lambda c: attacks.mi_fgsm(c.clf, c.x, c.y, 0.1, 0.01, 2, mu=float("nan")), ValueError,
     "mu must be a finite number >= 0, got nan"),
    ("carlini_wagner_l2: lr NaN", lambda c: attacks.carlini_wagner_l2(c.clf, c.x, c.y, lr=float("nan")), ValueError,
     "lr must be a finite number > 0, got nan"),
    ("carlini_wagner_l2: initial_const NaN",
     lambda c: attacks.carlini_wagner_l2(c.clf, c.x, c.y, initial_const=float("nan")), ValueError,
     "initial_const must be a finite number > 0, got nan"),
    ("locally_linear: iterations None", lambda c: attacks.locally_linear(c.clf, c.x, c.y, 0.1, iterations=None),
     ValueError, "iterations must be a positive integer, got None"),
    ("pgd: iterations 2.5", lambda c: attacks.pgd(c.clf, c.x, c.y, 0.1, 0.01, 2.5), ValueError,
     "iterations must be a positive integer, got 2.5"),
    ("build_suite: an unknown name after a good one", lambda c: attacks.build_suite(["apgd-ce", "apgd-xyz"]),
     ValueError, "unknown attack 'apgd-xyz'"),
    ("build_suite: iterations 0", lambda c: attacks.build_suite(["apgd-ce"], iterations=0), ValueError,
     "iterations must be a positive integer, got 0"),
    ("build_suite: queries 0", lambda c: attacks.build_suite(["square"], queries=0), ValueError,
     "queries must be a positive integer, got 0"),
    ("build_suite: a setting no attack takes", lambda c: attacks.build_suite(["apgd-ce", "square"], n_targets=3),
     ValueError, "no attack of the suite ['apgd-ce/exact', 'square'] takes the setting(s) 'n_targets'"),
    ("make: a misspelled setting", lambda c: attacks.make("square", querys=100), ValueError,
     "square takes no setting 'querys'"),
    ("worst_case: an unknown attack name", lambda c: attacks.worst_case(c.clf, c.x, c.y, 0.1, ["squares"]),
     ValueError, "unknown attack 'squares'"),
    ("random_sign: integer images", lambda c: attacks.random_sign(c.clf, c.images(scale=255, dtype=np.uint8), c.y, 0.1),
     ValueError, "x must be finite floating-point images"),
    ("diagnose: no images", lambda c: attacks.diagnose(c.clf, c.x[:0], c.y[:0], 0.1), ValueError,
     "diagnose needs at least one image"),
    ("apgd_batch: a start of another shape", lambda c: attacks.apgd_batch(c.clf, c.x, c.y, 0.1, start=c.x[:2]),
     ValueError, "start must have the shape of x, (3, 28, 28), got (2, 28, 28)"),
    # -- verify (exact verification) ------------------------------------------------------------
    ("verify.exact: a convolutional network", lambda c: verify.exact(c.net, c.x, c.y, 0.1), ValueError,
     "verify encodes networks of Dense, ReLU, Flatten, Reshape and Dropout layers"),
    ("verify.exact: a classifier with a front end",
     lambda c: verify.exact(Classifier(fc2(seed=1), Sparsifier()), c.x, c.y01, 0.1), ValueError,
     "the front end (the top-K sparsifier) is not"),
    ("verify.exact: eps NaN", lambda c: verify.exact(fc2(seed=1), c.x, c.y01, float("nan")), ValueError,
     "eps must be a finite number >= 0"),
    ("verify.exact: label 2 for a one-logit network", lambda c: verify.exact(fc2(seed=1), c.x, c.y, 0.1),
     ValueError, "y must hold integer labels in [0, 1]"),
    ("verify.exact: time_limit 0", lambda c: verify.exact(fc2(seed=1), c.x, c.y01, 0.1, time_limit=0), ValueError,
     "time_limit must be a finite number > 0 (seconds)"),
    ("verify.exact: x_adv of another shape", lambda c: verify.exact(fc2(seed=1), c.x, c.y01, 0.1, x_adv=c.x[:2]),
     ValueError, "x_adv must have the shape of x"),
    ("verify.minimal_radius: r_max 0", lambda c: verify.minimal_radius(fc2(seed=1), c.x, c.y01, r_max=0),
     ValueError, "r_max must be a finite number > 0"),
    ("verify.interval_bounds: images in [0, 255]", lambda c: verify.interval_bounds(c.net, c.images(scale=255), 0.1),
     ValueError, "must lie in [0, 1]"),
    ("apgd_batch: unknown loss", lambda c: attacks.apgd_batch(c.clf, c.x, c.y, 0.1, start=c.x, loss="hinge"),
     ValueError, "unknown APGD loss 'hinge'"),
    ("evaluate: no images", lambda c: attacks.evaluate(c.clf, c.x[:0], c.y[:0], c.x[:0]), ValueError,
     "nothing to evaluate: x must hold n >= 1 images"),
    ("evaluate: x_adv leaves [0, 1]", lambda c: attacks.evaluate(c.clf, c.x, c.y, c.x + 2), ValueError,
     "adversarial images leave [0, 1]"),
    ("evaluate: x_adv leaves the ball", lambda c: attacks.evaluate(c.clf, c.x, c.y, np.clip(c.x + 0.2, 0, 1), eps=0.1),
     ValueError, "adversarial images leave the ℓ∞ ball"),
    ("evaluate: x_adv of another shape", lambda c: attacks.evaluate(c.clf, c.x, c.y, c.x[:2]), ValueError,
     "x_adv has shape (2, 28, 28), x has (3, 28, 28)"),
    ("dlr_loss: two classes", lambda c: attacks.dlr_loss(np.zeros((2, 2)), np.array([0, 1])), ValueError,
     "DLR loss needs at least"),
    # -- run_all.py: arguments and environment (one error line, exit 2, before any work) -----------
    ("run_all: --seed -1", lambda c: c.run_all("--seed", "-1"), CommandLine, "must be an integer >= 0, got -1"),
    ("run_all: --seed seven", lambda c: c.run_all("--seed", "seven"), CommandLine, "exit 2: usage:"),
    ("run_all: --only unknown section", lambda c: c.run_all("--only", "table9"), CommandLine, "invalid choice: 'table9'"),
    ("run_all: --data-dir not a folder", lambda c: c.run_all("--data-dir", str(c.tmp / "none")), CommandLine,
     "is not a folder"),
    ("run_all: --out is a file", lambda c: (c.tmp.joinpath("f").write_text(""), c.run_all("--out", str(c.tmp / "f"))),
     CommandLine, "exit 2: error: --out "),
    ("run_all: SPARSENET_THREADS=abc", lambda c: c.run_all("--quick", "--out", str(c.tmp), env={"SPARSENET_THREADS": "abc"}),
     CommandLine, "exit 2: error: SPARSENET_THREADS must be a whole number >= 1, got 'abc'; nothing was run\n"),
    ("run_all: SPARSENET_THREADS=-2", lambda c: c.run_all("--quick", "--out", str(c.tmp), env={"SPARSENET_THREADS": "-2"}),
     CommandLine, "exit 2: error: SPARSENET_THREADS must be a whole number >= 1, got '-2'"),
    ("run_all: SPARSENET_DATA not a folder",
     lambda c: c.run_all("--quick", "--out", str(c.tmp), env={"SPARSENET_DATA": str(c.tmp / "none")}),
     CommandLine, "exit 2: error: $SPARSENET_DATA is set to "),
    pytest.param("run_all: truncated test images (checked before any training)",
                 lambda c: c.run_all_until_training(_truncated_test_images(c, c.mnist_dir, c.fashion_mnist_dir)),
                 CommandLine, "t10k-images-idx3-ubyte.gz: not a valid gzip file",
                 marks=pytest.mark.real_data("mnist", "fashion-mnist"), id="run_all: truncated test images"),
]


_PARAM = type(pytest.param(0))


@pytest.mark.parametrize("name,call,exception,fragment",
                         [row if isinstance(row, _PARAM) else pytest.param(*row, id=row[0]) for row in ROWS])
def test_a_bad_input_is_refused_with_a_clear_message(name, call, exception, fragment, tmp_path, monkeypatch, request):
    ctx = Context(tmp_path, monkeypatch)
    monkeypatch.delenv(parallel.THREADS_VAR, raising=False)
    for fixture in ("mnist_dir", "fashion_mnist_dir"):
        if any(m.name == "real_data" for m in request.node.iter_markers()):
            setattr(ctx, fixture, request.getfixturevalue(fixture))
    with pytest.raises(exception) as caught:
        call(ctx)
    assert fragment in str(caught.value), f"{name}: {caught.value}"
    if exception is CommandLine:
        assert "Traceback" not in str(caught.value)


# -- beyond the table: what the issue asked that is not an error ---------------------------
@pytest.mark.parametrize("arch", ["cnn4", "fc2"])
@pytest.mark.parametrize("front", [None, "cdf97"], ids=["no front end", "front end"])
@pytest.mark.parametrize("wrap", [Classifier, DataParallel], ids=["Classifier", "DataParallel"])
def test_backward_is_at_the_forward_passs_x_when_the_caller_reuses_its_array(arch, front, wrap):
    """clf.forward(x); x[:] = other; clf.backward(seed) is the gradient at the first x: the
    classifier keeps a copy, not a reference (70 images: DataParallel runs two slices)."""
    rng = np.random.default_rng(5)
    x, other = rng.random((2, 70, 28, 28))
    seed = rng.standard_normal((70, 10 if arch == "cnn4" else 1))
    clf = wrap(build(arch, seed=2, dtype=np.float64), Sparsifier() if front else None)
    expected = clf.vjp(x.copy(), seed)
    clf.forward(x)
    x[:] = other
    np.testing.assert_array_equal(clf.backward(seed), expected)


@pytest.mark.parametrize("arch", ["cnn4", "fc2"])
def test_weight_gradients_are_at_the_forward_passs_x_when_the_caller_reuses_its_array(arch):
    """The same for a network's dJ/dθ (what the layers keep their input for): the network
    copies x, even when x already has its dtype."""
    rng = np.random.default_rng(6)
    x, other = rng.random((2, 8, 28, 28))
    seed = rng.standard_normal((8, 10 if arch == "cnn4" else 1))
    net = build(arch, seed=2, dtype=np.float64)
    net.forward(x.copy())
    net.backward(seed)
    expected = [g.copy() for g in net.gradients()]
    net.forward(x)
    x[:] = other
    net.backward(seed)
    for got, want in zip(net.gradients(), expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("make", [
    pytest.param(lambda net: net, id="Sequential"),
    pytest.param(Classifier, id="Classifier"),
    pytest.param(lambda net: Classifier(net, Sparsifier()), id="Classifier with front end"),
    pytest.param(DataParallel, id="DataParallel"),
    pytest.param(lambda net: DataParallel(net, Sparsifier()), id="DataParallel with front end")])
def test_zero_images_give_zero_logits_and_a_zero_gradient(make):
    model = make(cnn4())
    logits = model.forward(np.zeros((0, 28, 28), np.float32))
    assert logits.shape == (0, 10)
    assert model.backward(np.zeros((0, 10), np.float32)).shape == (0, 28, 28)


@pytest.mark.parametrize("write", [
    pytest.param(lambda path: files.save_npz(path, a=np.zeros(3)), id="save_npz"),
    pytest.param(lambda path: files.write_json(path, {"a": 1}), id="write_json"),
    pytest.param(lambda path: files.write_bytes(path, b"abc"), id="write_bytes"),
    pytest.param(lambda path: save_checkpoint(path, fc2()), id="save_checkpoint")])
def test_a_full_disk_names_the_file_being_written(write, tmp_path, monkeypatch):
    """ENOSPC inside np.savez's zip writes, a JSON dump or an fsync carries no file name:
    atomic_path adds the target's, and leaves no temporary file."""
    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))   # as a write() deep in zipfile raises it
    monkeypatch.setattr(files.os, "fsync", full)
    target = tmp_path / "results" / "out.file"
    with pytest.raises(OSError) as caught:
        write(target)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert list(target.parent.iterdir()) == []


def test_run_all_says_which_file_did_not_fit_on_the_disk(tmp_path, monkeypatch):
    target = tmp_path / "out" / "results" / "summary.json"

    def writes(out, **kwargs):
        with files.atomic_path(target) as tmp:
            with open("/dev/full", "w") as disk:    # a real ENOSPC, raised by a write without a name
                tmp.write_text("{}")
                disk.write("x" * 10_000)
                disk.flush()
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    monkeypatch.setattr(run_all, "reproduce", writes)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert run_all.cli(["--out", str(tmp_path / "out")]) == 2
    assert err.getvalue().splitlines()[-1] == f"error: No space left on device: {target}"


def test_a_folder_one_cannot_write_in_names_the_file_asked_for():
    """/sys refuses new files even to root: the error names /sys/a.npz, not a temporary file."""
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("no sysfs at /sys (not Linux)")
    with pytest.raises(OSError) as caught:
        save_checkpoint("/sys/a.npz", fc2())
    assert caught.value.filename == "/sys/a.npz" and ".tmp-" not in str(caught.value)
