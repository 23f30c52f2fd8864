"""Data parallelism over the machine's cores for evaluation passes (issue 11).

Half of an attack iteration is memory traffic and elementwise work (im2col copies,
max-pool, ReLU, slice-adds), which NumPy runs on one core; only the matrix products use
both, and for cnn4's skinny products BLAS threads help little. So the batch is split into
one slice per core and each slice runs the plain layers of ``layers.py`` in its own thread,
on its own *replica* of the network (its own layer state, the same parameter arrays),
with BLAS held to one thread meanwhile so the two slices do not fight over the cores.
NumPy releases the GIL inside its loops, so the threads really run side by side.

Every example's logits and input gradient depend on that example alone, so the split
changes nothing but rounding: OpenBLAS picks its kernels by matrix size and thread count,
and a different kernel sums a product in another order (float32 results move in the last
bits, as they do between machines). ``tests/test_parallel.py`` checks the parallel pass
against the serial one to 1e-12 in float64.

Training (``DataParallelTraining``) cuts its batch into slices of a fixed size instead, and
sums the slices' weight gradients: the slicing, and so every rounding, is the same on any
number of cores, and a trained network does not depend on the machine it was trained on.
Its optimizer step, elementwise, runs on pieces of the parameters side by side
(``elementwise``), which changes no bit.

``SPARSENET_THREADS=1`` turns the parallel path off; without a BLAS whose thread count we
can set (OpenBLAS, as in NumPy's wheels) it is off too.
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

# A slice below this many images is not worth a thread: the dispatch (~0.1 ms) would cost
# more than the work it shares. Networks much smaller than cnn4 (fc2) stay serial as well,
# unless a front end (which costs far more than fc2 itself) comes before them.
MIN_SLICE = 32
MIN_PARAMETERS = 100_000
# The optimizer updates a smaller array whole, in one thread: a bias or conv1's 500 weights
# are less work than handing them to a thread.
MIN_PIECE = 65_536

# Training slices hold about this many images, whatever the core count: a batch of 128 is
# two slices, which keep two cores busy, and each slice's columns (conv2: 64 x 100 rows of
# 501) stay within a few MB.
TRAIN_SLICE = 64


def workers():
    """How many threads evaluation passes use: ``SPARSENET_THREADS`` or the core count."""
    value = os.environ.get("SPARSENET_THREADS", "")
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"SPARSENET_THREADS must be a whole number >= 1, got {value!r}") from None
        if n < 1:
            raise ValueError(f"SPARSENET_THREADS must be a whole number >= 1, got {value!r}")
        return n
    return os.cpu_count() or 1


class _OpenBLAS:
    """Get and set the thread count of the OpenBLAS that NumPy's products run on."""

    def __init__(self):
        self.get = self.set = None
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


def _openblas():
    global _blas
    with _lock:
        if _blas is None:
            _blas = _OpenBLAS()
        return _blas


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the block (each of our threads then owns one core). Blocks
    may overlap (two classifiers used from two user threads): the first one in sets the
    count, the last one out restores it."""
    blas = _openblas()
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
    element by element, in place (an optimizer's update). Arrays of ``MIN_PIECE`` elements or
    more are cut into one flat piece per worker, and all pieces run side by side: each element
    sees the same operations either way, so the result is the same bits."""
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


class DataParallel:
    """A front end (optional) and a network at evaluation, one batch slice per core.

    ``forward(x)`` : (B, *input_shape) -> logits (B, L), as ``net.forward(frontend(x))``;
    ``backward(seed)`` : (B, L) -> dJ/dx (B, *input_shape) at the x of the last ``forward``,
    through the network (no parameter gradients) and the front end's ``vjp``.

    Each core's slice runs on its own replica: ``net.replica()`` and a shallow copy of the
    front end (whose per-call state, like the layers', is reassigned, never written into).
    A batch too small to share, or a network too small to gain with no front end before it,
    runs serially on ``net`` and ``frontend`` themselves. A parallel pass leaves ``net``'s
    own layers alone, so read switches after ``net.forward``, not after this.
    """

    def __init__(self, net, frontend=None):
        self.net, self.frontend = net, frontend
        self.replicas = []     # (network, front end) per worker, kept: their buffers are reused
        self._x = self._models = self._slices = None    # the last forward's input and its split

    def _plan(self, B):
        n = workers()
        small = self.frontend is None and self.net.parameter_count() < MIN_PARAMETERS
        if n < 2 or B < 2 * MIN_SLICE or _openblas().set is None or small:
            return [(self.net, self.frontend)], [slice(0, B)]
        n = min(n, B // MIN_SLICE)
        self.replicas = [r for r in self.replicas if r[0].dtype == self.net.dtype]   # after net.astype
        while len(self.replicas) < n:
            self.replicas.append((self.net.replica(), copy.copy(self.frontend)))
        bounds = np.linspace(0, B, n + 1).astype(int)
        return self.replicas[:n], [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

    def _run(self, fn, models, slices):
        if len(slices) == 1:
            return fn(*models[0], slices[0])
        return np.concatenate(_map(fn, [(*model, s) for model, s in zip(models, slices)], len(slices)))

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim == 0:                  # not a batch: the network's own check says what it expects
            self.net._check_input(x)
        self._x = x
        self._models, self._slices = self._plan(len(x))

        def run(net, frontend, s):
            return net.forward(x[s] if frontend is None else frontend(x[s]))
        return self._run(run, self._models, self._slices)

    def backward(self, seed):
        if self._slices is None:
            raise RuntimeError("backward needs a forward pass first")
        seed = np.asarray(seed, dtype=self.net.dtype)
        if len(seed) != len(self._x):
            raise ValueError(f"backward expects a seed for each of the {len(self._x)} examples of the last "
                             f"forward pass, got {len(seed)}")
        x = self._x

        def run(net, frontend, s):
            g = net.backward(seed[s], param_grads=False)
            return g if frontend is None else frontend.vjp(x[s], g)
        return self._run(run, self._models, self._slices)


class DataParallelTraining:
    """A network's training passes, a batch cut into slices of about ``TRAIN_SLICE`` images,
    the slices run on up to ``workers()`` threads.

    ``forward(x)`` : (B, *input_shape) -> logits (B, L), as ``net.forward(x, train=True)``;
    ``backward(grad)`` : grad (B, L) = dJ/dlogits -> None, leaving dJ/dθ in ``net``'s own
    ``grads``, as ``net.backward(grad, input_grad=False)`` does.

    J sums over the batch's examples (``losses.cross_entropy`` puts the 1/B of the mean into
    grad), so dJ/dθ is the sum of the slices' dJ/dθ, each computed on its own replica (its own
    ``grads``, the network's parameter arrays) and added up in slice order. Dropout draws
    its masks for the whole batch from each ``Dropout``'s own generator in the calling thread,
    as the serial pass does, and each slice takes its rows: the masks are the serial ones.

    The slices are the same however many threads run them (one thread runs them in turn),
    always on one-thread BLAS, so the gradients are the same bits on any core count. They
    differ from the serial pass's in rounding only. Networks below ``MIN_PARAMETERS`` (fc2)
    train serially: threads would cost more than they share.
    """

    def __init__(self, net):
        self.net = net
        self.replicas = []
        self._dropout_shapes = None    # {layer index: shape of one example's input}
        self._slices = None
        self._logits_shape = None      # of the last forward: what backward's grad must be

    def _serial(self):
        return self.net.parameter_count() < MIN_PARAMETERS or _openblas().set is None

    def forward(self, x):
        logits = self._forward(x)
        self._logits_shape = logits.shape
        return logits

    def _forward(self, x):
        if self._serial():
            self._slices = None
            return self.net.forward(x, train=True)
        x = self.net._check_input(x)
        B = len(x)
        bounds = np.linspace(0, B, max(1, B // TRAIN_SLICE) + 1).astype(int)
        self._slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self.replicas = [r for r in self.replicas if r.dtype == self.net.dtype]   # after net.astype
        while len(self.replicas) < len(self._slices):
            self.replicas.append(self.net.replica())
        draws = {i: self.net.layers[i].uniform((B, *shape), self.net.dtype)
                 for i, shape in self._dropout_inputs().items()}

        def run(net, s):
            for i, u in draws.items():
                net.layers[i].draws = u[s]
            return net.forward(x[s], train=True)
        return np.concatenate(_map(run, list(zip(self.replicas, self._slices)), self._threads()))

    def backward(self, grad):
        if self._logits_shape is None:
            raise RuntimeError("backward needs a forward pass first")
        grad = np.asarray(grad, dtype=self.net.dtype)
        if grad.shape != self._logits_shape:
            raise ValueError(f"backward expects dJ/dlogits of shape {self._logits_shape} (the last forward's "
                             f"logits), got {grad.shape}")
        if self._slices is None:
            return self.net.backward(grad, input_grad=False)
        _map(lambda net, s: net.backward(grad[s], input_grad=False),
             list(zip(self.replicas, self._slices)), self._threads())
        sums = [(total, *(r.layers[i].grads[k] for r in self.replicas[:len(self._slices)]))
                for i, layer in enumerate(self.net.layers) for k, total in layer.grads.items()]
        elementwise(_sum_into, sums)
        return None

    def _threads(self):
        return min(workers(), len(self._slices))

    def _dropout_inputs(self):
        """Where the network's active Dropout layers sit and the shape of one example at each:
        read once from a one-example evaluation pass through a replica."""
        if self._dropout_shapes is None:
            h, shapes = np.zeros((1, *self.net.input_shape), self.net.dtype), {}
            for i, layer in enumerate(self.replicas[0].layers):
                if isinstance(layer, Dropout) and layer.p > 0:
                    shapes[i] = h.shape[1:]
                h = layer.forward(h)
            self._dropout_shapes = shapes
        return self._dropout_shapes


def _sum_into(total, *parts):
    """total = parts[0] + parts[1] + ..., added in that order."""
    np.copyto(total, parts[0])
    for part in parts[1:]:
        total += part
