"""Data parallelism over the machine's cores: one explicit wrapper, ``DataParallel``.

The library's objects run serially and plainly: after ``Classifier(net).forward(x)`` the
network's switches are those of x. For speed, wrap a network or a classifier in one line::

    fast = DataParallel(clf)          # the same forward / backward / logits / predict
    fit(DataParallel(net), x, y, ...)  # training passes on the cores

Half of an attack iteration is memory traffic and elementwise work (im2col copies,
max-pool, ReLU, slice-adds), which NumPy runs on one core; only the matrix products use
both, and for cnn4's skinny products BLAS threads help little. So the batch is split into
slices, and each slice runs the plain layers of ``layers.py`` in its own thread, on its own
*replica* of the network (a copy of its layers that shares the parameter arrays), with BLAS
held to one thread meanwhile so the slices do not fight over the cores. NumPy releases the
GIL inside its loops, so the threads really run side by side.

Evaluation (``forward(x)``, ``backward(seed)``) cuts the batch into one slice per core:
every example's logits and input gradient depend on that example alone, so the split
changes nothing but rounding (OpenBLAS picks its kernels by matrix size and thread count,
and another kernel sums a product in another order).

Training (``forward(x, train=True)``, then ``backward(grad)``) cuts the batch into slices
of a fixed size, ``TRAIN_SLICE`` images, and sums the slices' weight gradients in slice
order: the slicing, and so every rounding, is the same on any number of cores. Dropout's
masks are drawn for the whole batch from each layer's own generator in the calling thread,
as the serial pass draws them, and each slice gets its rows.

``SPARSENET_THREADS=1`` runs the slices one after another; without a BLAS whose thread
count we can set (OpenBLAS, as in NumPy's wheels) evaluation runs serially.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import ctypes
import glob
import os
import threading

import numpy as np

from .layers import Dropout
from .models import Classifier, Sequential, check_range

# A slice below this many images is not worth a thread: the dispatch (~0.1 ms) would cost
# more than the work it shares. Networks much smaller than cnn4 (fc2) stay serial as well,
# unless a front end (which costs far more than fc2 itself) comes before them.
MIN_SLICE = 32
MIN_PARAMETERS = 100_000
# The gradient sums add a smaller array whole, in one thread: a bias or conv1's 500 weights
# are less work than handing them to a thread.
MIN_PIECE = 65_536

# Training slices hold about this many images, whatever the core count: a batch of 128 is
# two slices, which keep two cores busy, and each slice's columns (conv2: 64 x 100 rows of
# 501) stay within a few MB.
TRAIN_SLICE = 64

THREADS_VAR = "SPARSENET_THREADS"


def workers():
    """How many threads the passes use: ``SPARSENET_THREADS`` or the core count."""
    value = os.environ.get(THREADS_VAR, "")
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{THREADS_VAR} must be a whole number >= 1, got {value!r}") from None
        if n < 1:
            raise ValueError(f"{THREADS_VAR} must be a whole number >= 1, got {value!r}")
        return n
    return os.cpu_count() or 1


class OpenBLAS:
    """The thread count, and the kernel name, of the OpenBLAS that NumPy's products run on.

    ``get()`` -> int, its thread count, and ``set(n)``: both None when no OpenBLAS that
    exposes them was found (evaluation then stays serial). ``corename()`` -> bytes, the
    kernel's name, or None. One per process: :func:`openblas`.
    """

    def __init__(self):
        self.get = self.set = self.corename = None
        for path in self._candidates():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("scipy_openblas", ""),
                                   ("openblas", "")):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    set_.argtypes, set_.restype = [ctypes.c_int], None
                    get.argtypes, get.restype = [], ctypes.c_int
                    self.get, self.set = get, set_
                    core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                    if core is not None:
                        core.argtypes, core.restype = [], ctypes.c_char_p
                        self.corename = core
                    return

    @staticmethod
    def _candidates():
        """NumPy's bundled OpenBLAS first (its wheels keep it in ``numpy.libs``), then any
        OpenBLAS already mapped into this process (Linux)."""
        site = os.path.dirname(os.path.dirname(np.__file__))
        paths = sorted(glob.glob(os.path.join(site, "numpy.libs", "*openblas*")))
        try:
            with open("/proc/self/maps") as f:
                paths += sorted({line.split()[-1] for line in f if "openblas" in line.lower()})
        except OSError:
            pass
        return paths


_blas = None
_lock = threading.Lock()
_pool = None              # (workers, ThreadPoolExecutor)
_held = [0, None]         # blocks inside single_threaded_blas, and the thread count to restore


def openblas():
    """The process's :class:`OpenBLAS` (looked up once): ``openblas().set is None`` when the
    thread count of NumPy's BLAS cannot be set."""
    global _blas
    with _lock:
        if _blas is None:
            _blas = OpenBLAS()
        return _blas


def blas_kernel():
    """The name of the kernel OpenBLAS chose for this CPU (e.g. 'Haswell', 'SkylakeX'), or
    None without an OpenBLAS we can ask. ``OPENBLAS_CORETYPE`` overrides its choice."""
    core = openblas().corename
    return core().decode() if core is not None else None


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the block (each of our threads then owns one core). Blocks
    may overlap (two classifiers used from two user threads): the first one in sets the
    count, the last one out restores it."""
    blas = openblas()
    if blas.set is None:
        yield
        return
    with _lock:
        if _held[0] == 0:
            _held[1] = blas.get()
            blas.set(1)
        _held[0] += 1
    try:
        yield
    finally:
        with _lock:
            _held[0] -= 1
            if _held[0] == 0:
                blas.set(_held[1])


def _executor(n):
    global _pool
    with _lock:
        if _pool is None or _pool[0] != n:
            _pool = (n, concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix="sparsenet"))
        return _pool[1]


def _map(fn, jobs, threads):
    """[fn(*job) for job in jobs] on ``threads`` threads, BLAS on one thread throughout.
    Every job finishes before any error is raised: a job still running on its replica when
    the next pass starts would share that replica's state with it."""
    with single_threaded_blas():
        if threads < 2:
            return [fn(*job) for job in jobs]
        futures = [_executor(threads).submit(fn, *job) for job in jobs]
        concurrent.futures.wait(futures)
        return [f.result() for f in futures]


def elementwise(fn, jobs):
    """``fn(*arrays)`` for each tuple of same-shaped arrays in ``jobs``, where ``fn`` works
    element by element, in place. Arrays of ``MIN_PIECE`` elements or more are cut into one
    flat piece per worker, and all pieces run side by side: each element sees the same
    operations either way, so the result is the same bits."""
    n = workers()
    if n < 2 or sum(job[0].size for job in jobs) < MIN_PARAMETERS:
        for job in jobs:
            fn(*job)
        return
    pieces = []
    for job in jobs:
        if job[0].size < MIN_PIECE or not all(a.flags.c_contiguous for a in job):   # small, or no flat view
            pieces.append(job)
            continue
        flat = [a.reshape(-1) for a in job]
        bounds = np.linspace(0, flat[0].size, n + 1).astype(int)
        pieces += [tuple(a[lo:hi] for a in flat) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    _map(fn, pieces, n)


def replica(net):
    """A copy of ``net`` whose layers share its parameter arrays (the very arrays, so an
    optimizer step or ``load_state_dict`` reaches every replica) and own everything else:
    their gradients, the state a forward pass keeps, their scratch buffers."""
    shared = {id(p): p for p in net.parameters()}
    return copy.deepcopy(net, memo=shared)


class _Predrawn:
    """Stands in for a Dropout layer's generator on a replica: hands out the uniform draws
    made for this slice in the calling thread, so the masks are those of the serial pass."""

    def __init__(self, draws):
        self.draws = draws

    def random(self, shape, dtype):
        if tuple(shape) != self.draws.shape or np.dtype(dtype) != self.draws.dtype:
            raise ValueError(f"Dropout draws of shape {self.draws.shape} ({self.draws.dtype}) were made for this "
                             f"slice, but its input is {tuple(shape)} ({np.dtype(dtype)})")
        return self.draws


class DataParallel(Classifier):
    """A network, or a ``Classifier`` (front end and network), run on all cores.

    ``DataParallel(clf)`` or ``DataParallel(net)``: the same interface as ``Classifier``
    (``forward``, ``backward``, ``logits``, ``predict``, ``vjp``), so every attack takes it.

    ``forward(x)`` : (B, *input_shape) -> logits (B, L), as ``net.forward(frontend(x))``;
    ``backward(seed)`` : (B, L) -> dJ/dx (B, *input_shape) at the x of the last ``forward``,
    through the network (no parameter gradients) and the front end's ``vjp``.

    ``forward(x, train=True)`` (a network without front end, as ``training.fit`` passes it)
    runs a training pass in slices of ``TRAIN_SLICE`` images; the following
    ``backward(grad, input_grad=False)`` leaves dJ/dθ, summed over the slices, in the
    network's own ``grads``, as ``Sequential.backward`` does.

    Each slice runs on its own replica (``replica(net)`` and a shallow copy of the front end,
    whose per-call state is reassigned, never written into). A batch too small to share, or
    a network too small to gain with no front end before it, runs serially on ``net`` and
    ``frontend`` themselves. A parallel pass leaves ``net``'s own layers alone: to read
    switches, use ``net.forward`` or a plain ``Classifier``.

    The threads are the wrapper's own: a pass holds ``net`` (``Sequential.exclusive``), so
    one wrapper, like one network, serves one calling thread at a time.

    ``slices`` tells how the last forward pass cut its batch.
    """

    def __init__(self, model, frontend=None):
        if isinstance(model, Classifier):
            if frontend is not None:
                raise ValueError("DataParallel(clf) takes the front end of clf; pass frontend= only with a network")
            model, frontend = model.net, model.frontend
        if not isinstance(model, Sequential):
            raise TypeError(f"DataParallel wraps a Sequential network or a Classifier, got {type(model).__name__}")
        super().__init__(model, frontend)
        self.replicas = []     # (network, front end) per slice, kept: their buffers are reused
        self._replicated = None    # the (network, front end, dtype) the replicas were made from
        self._bare = None      # this wrapper without its front end (see without_frontend)
        self._x = self._models = self._slices = None    # the last forward's input and its split
        self._train = False
        self._logits_shape = None
        self._dropout_shapes = None

    @property
    def slices(self):
        """The slices of the batch the last forward pass ran, one per thread, in batch order:
        ``[slice(0, B)]`` when an evaluation pass ran serially on ``net`` itself; None before
        the first pass and after a training pass that ran serially (a network too small to
        gain, or a BLAS whose thread count cannot be set)."""
        return None if self._slices is None else list(self._slices)

    def without_frontend(self):
        if self.frontend is None:
            return self
        if self._bare is None or self._bare.net is not self.net:
            self._bare = DataParallel(self.net)
        return self._bare

    # -- the replicas ------------------------------------------------------------
    def _replicas(self, n):
        if self._replicated != (self.net, self.frontend, self.net.dtype):   # a new network, front end or dtype
            self.replicas = []
            self._replicated = (self.net, self.frontend, self.net.dtype)
        while len(self.replicas) < n:
            self.replicas.append((replica(self.net), copy.copy(self.frontend)))
        return self.replicas[:n]

    def _eval_plan(self, B):
        n = workers()
        small = self.frontend is None and self.net.parameter_count() < MIN_PARAMETERS
        if n < 2 or B < 2 * MIN_SLICE or openblas().set is None or small:
            return [(self.net, self.frontend)], [slice(0, B)]
        n = min(n, B // MIN_SLICE)
        bounds = np.linspace(0, B, n + 1).astype(int)
        return self._replicas(n), [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

    def _train_plan(self, B):
        if self.net.parameter_count() < MIN_PARAMETERS or openblas().set is None:
            return [(self.net, None)], None
        bounds = np.linspace(0, B, max(1, B // TRAIN_SLICE) + 1).astype(int)
        slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        return self._replicas(len(slices)), slices

    # -- the two passes ------------------------------------------------------------
    # Each pass holds the network (``Sequential.exclusive``): the wrapper's own per-call
    # state (the last input, its slices, the replicas) serves one thread at a time too.
    def forward(self, x, train=False):
        with self.net.exclusive():
            return self._forward(x, train)

    def _forward(self, x, train):
        x = np.asarray(x)
        if x.ndim == 0:                  # not a batch: the network's own check says what it expects
            self.net.check_input(x)
        if self.frontend is None and not train:    # the front end checks its own input
            check_range(x)
        if train:
            logits = self._train_forward(x)
        else:
            if self.frontend is not None:    # the front end's VJP needs x as it was at this pass
                x = np.array(x, copy=True)
            self._x = x
            self._models, self._slices = self._eval_plan(len(x))

            def run(net, frontend, s):
                return net.forward(x[s] if frontend is None else frontend(x[s]))
            logits = self._run(run, self._models, self._slices)
        self._train, self._logits_shape = train, logits.shape
        return logits

    __call__ = forward

    def _train_forward(self, x):
        if self.frontend is not None:
            raise ValueError("a training pass runs the network alone: sparsify the training images with the "
                             "front end first (as the paper does), then train DataParallel(net)")
        self._models, self._slices = self._train_plan(len(x))
        if self._slices is None:
            return self.net.forward(x, train=True)
        x = self.net.check_input(x)
        B = len(x)
        draws = {i: self.net.layers[i].rng.random((B, *shape), dtype=self.net.dtype.type)
                 for i, shape in self._dropout_inputs().items()}

        def run(net, _, s):
            for i, u in draws.items():
                net.layers[i].rng = _Predrawn(u[s])
            return net.forward(x[s], train=True)
        return np.concatenate(_map(run, [(*m, s) for m, s in zip(self._models, self._slices)], self._threads()))

    def backward(self, grad, input_grad=True):
        """After ``forward(x)``: dJ/dx for dJ/dlogits = ``grad``. After ``forward(x, train=True)``:
        dJ/dθ into the network's ``grads``, and dJ/dx unless ``input_grad=False``."""
        with self.net.exclusive():
            return self._backward(grad, input_grad)

    def _backward(self, grad, input_grad):
        if self._logits_shape is None:
            raise RuntimeError("backward needs a forward pass first")
        grad = np.asarray(grad, dtype=self.net.dtype)
        if grad.shape != self._logits_shape:
            raise ValueError(f"backward expects dJ/dlogits of shape {self._logits_shape} (the last forward's "
                             f"logits), got {grad.shape}")
        if self._train:
            return self._train_backward(grad, input_grad)
        x = self._x

        def run(net, frontend, s):
            g = net.backward(grad[s], param_grads=False)
            return g if frontend is None else frontend.vjp(x[s], g)
        return self._run(run, self._models, self._slices)

    def _train_backward(self, grad, input_grad):
        if self._slices is None:
            return self.net.backward(grad, input_grad=input_grad)
        parts = _map(lambda net, _, s: net.backward(grad[s], input_grad=input_grad),
                     [(*m, s) for m, s in zip(self._models, self._slices)], self._threads())
        sums = [(total, *(m[0].layers[i].grads[k] for m in self._models))
                for i, layer in enumerate(self.net.layers) for k, total in layer.grads.items()]
        elementwise(_sum_into, sums)
        return np.concatenate(parts) if input_grad else None

    def _run(self, fn, models, slices):
        if len(slices) == 1:
            return fn(*models[0], slices[0])
        return np.concatenate(_map(fn, [(*model, s) for model, s in zip(models, slices)], len(slices)))

    def _threads(self):
        return min(workers(), len(self._slices))

    def _dropout_inputs(self):
        """Where the network's active Dropout layers sit and the shape of one example at each:
        read from a one-example evaluation pass through a replica."""
        if self._dropout_shapes is None or self._dropout_shapes[0] is not self.net:
            h, shapes = np.zeros((1, *self.net.input_shape), self.net.dtype), {}
            for i, layer in enumerate(self._models[0][0].layers):
                if isinstance(layer, Dropout) and layer.p > 0:
                    shapes[i] = h.shape[1:]
                h = layer.forward(h)
            self._dropout_shapes = (self.net, shapes)
        return self._dropout_shapes[1]


def _sum_into(total, *parts):
    """total = parts[0] + parts[1] + ..., added in that order."""
    np.copyto(total, parts[0])
    for part in parts[1:]:
        total += part
