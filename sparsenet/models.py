"""The paper's two networks (Section 5.1) and a ten-class ``fc10``, the ``Sequential`` container, the
``Classifier`` that puts an optional front end before a network, and ``prune``, the
network sparsity of Section 4.

Networks take images ``x : (B, 28, 28)`` and return logits ``(B, L)``: L = 10 for
``cnn4`` and ``fc10``, L = 1 for the binary ``fc2`` (class 1 when the logit is positive).
"""
from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np

from .layers import LAYERS, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Reshape

IMAGE_SHAPE = (28, 28)
RANGE_TOL = 1e-6     # images may leave [0, 1] by float rounding, no more (as frontend.RANGE_TOL)


def check_range(x):
    """Raise ``ValueError`` unless the finite values of floating-point images ``x`` lie in
    [0, 1] (one min and one max pass; NaN, infinity, shapes and dtypes are the network's
    ``check_input``'s to report)."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    lo, hi = x.min(), x.max()
    if np.isfinite(lo) and np.isfinite(hi) and (lo < -RANGE_TOL or hi > 1 + RANGE_TOL):
        raise ValueError(f"images must lie in [0, 1] (pixels / 255), got values in [{lo:.3g}, {hi:.3g}]")


def check_labels(y, n, n_logits, name="y", images="x"):
    """``y`` as an array, after checking it holds one integer label per image (``n`` of them),
    each a class of a network with ``n_logits`` logits (0 or 1 for a one-logit network)."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match {images}, got {y.shape}")
    n_classes = max(n_logits, 2)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: labels must be integers in [0, {n_classes - 1}], got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name}: labels must be integers in [0, {n_classes - 1}], got values in "
                         f"[{y.min()}, {y.max()}]")
    return y


def check_batch_size(batch_size):
    """``batch_size`` as an int, after checking it is an integer >= 1 (numpy integers too)."""
    if (isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Integral)
            or batch_size < 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type (float32 or float64), got {dtype}")
    return dtype


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse.

    ``forward(x, train=False)`` : x (B, *input_shape) -> logits (B, L).
    ``backward(grad)`` : grad (B, L) = dJ/dlogits for any scalar J -> dJ/dx (B, *input_shape),
    filling every layer's ``grads`` on the way.

    One network serves one thread at a time: its layers keep per-call state (what backward
    needs, the switches, scratch buffers), so a pass started while another thread's pass is
    running raises ``RuntimeError`` instead of mixing the two. Give each thread its own copy
    (``copy.deepcopy(net)``), or use ``parallel.DataParallel``, which runs replicas.
    """

    def __init__(self, layers, input_shape=IMAGE_SHAPE, arch="custom", config=None,
                 dtype=np.float32):
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        self.arch, self.config = arch, dict(config or {})
        self.dtype = _float_dtype(dtype)
        self._passes = None     # (examples, logits shape) of the last forward, what backward checks
        self._busy = threading.RLock()

    # The lock is neither copied nor pickled: a copy is another network, free for its own thread.
    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_busy"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._busy = threading.RLock()

    @contextlib.contextmanager
    def exclusive(self):
        """Hold the network for one pass, or several by the same thread (the lock is
        reentrant); raises ``RuntimeError`` at once when another thread holds it."""
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(
                f"{self.arch} is running a pass in another thread: a network, and a Classifier holding it, "
                "keeps per-call state (switches, caches, scratch buffers) and cannot be shared between "
                "threads; give each thread its own copy (copy.deepcopy(net)), or use "
                "parallel.DataParallel(net), which runs replicas")
        try:
            yield
        finally:
            self._busy.release()

    # -- the two passes -------------------------------------------------------
    def forward(self, x, train=False):
        """Logits (B, L) of images x (B, *input_shape); every layer keeps what its backward
        needs, and ReLU and max-pool their switches, of this x."""
        x = self.check_input(x)
        with self.exclusive():
            if len(x) == 0:                  # no images: no logits, and nothing for the layers to keep
                out = np.zeros((0, self.n_logits), self.dtype)
            else:
                for layer in self.layers:
                    x = layer.forward(x, train)
                out = x
            self._passes = (len(out), out.shape)
        return out

    __call__ = forward

    def backward(self, grad, param_grads=True, input_grad=True):
        """dJ/dx for grad = dJ/dlogits (shaped as the last forward's logits), filling every
        layer's ``grads`` (unless ``param_grads=False``). ``input_grad=False`` (training)
        stops at the first weighted layer, after its parameter gradients, and returns None:
        nobody needs dJ/dx there."""
        with self.exclusive():
            return self._backward(grad, param_grads, input_grad)

    def _backward(self, grad, param_grads, input_grad):
        passes = self._passes
        if passes is None:
            raise RuntimeError(f"{self.arch}.backward needs a forward pass first")
        grad = np.asarray(grad, dtype=self.dtype)
        if grad.shape != passes[1]:
            raise ValueError(f"backward expects dJ/dlogits of shape {passes[1]} (the last forward's logits), "
                             f"got {grad.shape}")
        if passes[0] == 0:
            if param_grads:
                for g in self.gradients():
                    g[...] = 0
            return np.zeros((0, *self.input_shape), self.dtype) if input_grad else None
        first = None if input_grad else self.weighted[0]
        for layer in reversed(self.layers):
            if layer is first:
                return layer.backward(grad, param_grads, input_grad=False)
            grad = layer.backward(grad, param_grads)
        return grad

    def check_input(self, x):
        """x as a new array of the network's dtype, after checking it is a finite batch
        of the network's input shape."""
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape:
            raise ValueError(f"{self.arch} expects input of shape (B, {', '.join(map(str, self.input_shape))}), "
                             f"got {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"input must be floating point (images in [0, 1]), got dtype {x.dtype}")
        # A copy: the layers keep their input for backward, and a caller may reuse its array.
        x = np.array(x, dtype=self.dtype)
        if not np.isfinite(x).all():
            raise ValueError("input contains NaN or infinite values")
        return x

    # -- inspection -----------------------------------------------------------
    @property
    def relus(self):
        return [l for l in self.layers if isinstance(l, ReLU)]

    @property
    def pools(self):
        return [l for l in self.layers if isinstance(l, MaxPool2D)]

    @property
    def weighted(self):
        """Layers with a weight matrix (Conv2D and Dense), in order."""
        return [l for l in self.layers if "W" in l.params]

    @property
    def n_logits(self):
        return self.weighted[-1].params["W"].shape[-1]

    def parameters(self):
        return [p for l in self.layers for _, p in sorted(l.params.items())]

    def parameter_count(self):
        return sum(p.size for p in self.parameters())

    def gradients(self):
        return [l.grads[k] for l in self.layers for k, _ in sorted(l.params.items())]

    def state_dict(self):
        return {f"{i}.{k}": v for i, l in enumerate(self.layers) for k, v in l.params.items()}

    def load_state_dict(self, state):
        """Copy ``state`` (as ``state_dict`` gives it) into the parameters, in place.
        Raises ``ValueError`` naming the parameter when a key, a shape or a value is wrong:
        missing or extra keys, another shape, values that are not real floating-point
        numbers, NaN / infinity, or values beyond the network's dtype (1e39 for float32),
        which would become infinity."""
        own = self.state_dict()
        if set(own) != set(state):
            raise ValueError(f"parameters {sorted(state)} do not match {self.arch}'s {sorted(own)}")
        for k, v in own.items():
            value = np.asarray(state[k])
            if value.shape != v.shape:
                raise ValueError(f"parameter {k}: has shape {value.shape}, {self.arch} expects {v.shape}")
            if value.dtype.kind != "f":
                raise ValueError(f"parameter {k}: holds {value.dtype} values, not real floating-point numbers")
            if not np.isfinite(value).all():
                raise ValueError(f"parameter {k}: holds NaN or infinite values")
            largest = np.abs(value).max(initial=0)
            if largest > np.finfo(v.dtype).max:
                raise ValueError(f"parameter {k}: holds values beyond {v.dtype}'s range (largest magnitude "
                                 f"{largest:.3g}), which would become infinite")
        for k, v in own.items():
            v[...] = state[k]

    def astype(self, dtype):
        """Convert parameters (and inputs from now on) to ``dtype``, a floating-point type, in place."""
        self.dtype = _float_dtype(dtype)
        for l in self.layers:
            for k in l.params:
                l.params[k] = l.params[k].astype(dtype)
                l.grads[k] = np.zeros_like(l.params[k])
        return self

    def __repr__(self):
        body = "\n".join(f"  {l!r}" for l in self.layers)
        return f"Sequential[{self.arch}](\n{body}\n)"


def cnn4(seed=0, dropout=0.5, dtype=np.float32):
    """The 4-layer CNN of Section 5.1 (after Nielsen 2015, as in the authors' code).

    conv 5x5x20 'same' -> pool 2 -> ReLU -> conv 5x5x40 'valid' -> pool 2 -> ReLU
    -> dense 1000 -> ReLU -> dropout -> dense 1000 -> ReLU -> dropout -> dense 10.

    Each conv block pools before its ReLU, as Nielsen's ``network3.ConvPoolLayer`` does.
    It is the same function as ReLU then pool (ReLU is increasing, so it commutes with a
    max) and has the same gradient, with the ReLU on a quarter of the units.
    """
    seeds = np.random.SeedSequence(seed).spawn(7)
    layers = [
        Reshape((28, 28, 1)),
        Conv2D(1, 20, 5, "same", rng=seeds[0], dtype=dtype), MaxPool2D(), ReLU(),
        Conv2D(20, 40, 5, "valid", rng=seeds[1], dtype=dtype), MaxPool2D(), ReLU(),
        Flatten(),
        Dense(5 * 5 * 40, 1000, rng=seeds[2], dtype=dtype), ReLU(), Dropout(dropout, rng=seeds[3]),
        Dense(1000, 1000, rng=seeds[4], dtype=dtype), ReLU(), Dropout(dropout, rng=seeds[5]),
        Dense(1000, 10, rng=seeds[6], dtype=dtype, init="glorot"),
    ]
    return Sequential(layers, arch="cnn4", config={"seed": seed, "dropout": dropout}, dtype=dtype)


def fc2(seed=0, hidden=10, dtype=np.float32):
    """The binary network of Sections 3.2 and 5.1: 784 -> ``hidden`` ReLU -> 1 logit.

    y(x) = w_0^T ReLU(W_1 x + b_1) + b_0  (Figure 3).
    """
    return _two_layer("fc2", seed, hidden, 1, dtype)


def fc10(seed=0, hidden=100, dtype=np.float32):
    """A ten-class fully connected network: 784 -> ``hidden`` ReLU -> 10 logits.

    fc2 with one logit per class, y(x) = W_0^T ReLU(W_1 x + b_1) + b_0, for asking whether
    network sparsity (Section 4, shown there on a binary network) carries to ten classes.
    The width 100 is ten hidden units per class, as fc2 has ten for its one logit.
    """
    return _two_layer("fc10", seed, hidden, 10, dtype)


def _two_layer(arch, seed, hidden, n_out, dtype):
    if isinstance(hidden, (bool, np.bool_)) or not isinstance(hidden, numbers.Integral) or hidden < 1:
        raise ValueError(f"hidden must be an integer >= 1, got {hidden!r}")
    seeds = np.random.SeedSequence(seed).spawn(2)
    layers = [Flatten(),
              Dense(28 * 28, hidden, rng=seeds[0], dtype=dtype), ReLU(),
              Dense(hidden, n_out, rng=seeds[1], dtype=dtype, init="glorot")]
    return Sequential(layers, arch=arch, config={"seed": seed, "hidden": hidden}, dtype=dtype)


ARCHITECTURES = {"cnn4": cnn4, "fc2": fc2, "fc10": fc10}


def build(arch, **config):
    """Build a network by name: ``build('cnn4', seed=1)``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**config)


def predictions(logits):
    """Predicted labels: arg-max, or ``logit > 0`` for a one-logit binary network."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).astype(np.int64)
    return logits.argmax(axis=1)


class Classifier:
    """A network behind an optional front end, seen by attacks as one model.

    ``frontend`` is any object with ``frontend(x)`` and ``frontend.vjp(x, g)`` (for
    example ``frontend.Sparsifier``); how the gradient crosses it (exact or BPDA) is
    the front end's choice, so attacks never need to know.

    It runs plainly, on the network itself: after ``forward(x)`` the network's switches
    are those of x. ``parallel.DataParallel(clf)`` is the same model on all cores. Like its
    network, it serves one thread at a time (see ``Sequential``).

    Images must lie in [0, 1]. The library checks the range where images come in: here in
    ``forward`` (and ``DataParallel.forward``) when there is no front end, in the front end
    (``frontend.Sparsifier``) when there is one, and in every attack (``attacks.check_inputs``).
    A ``Sequential`` network alone takes any finite input (pre-processed images, unit
    vectors for w_eq), so its own ``forward`` does not.
    """

    def __init__(self, net, frontend=None):
        if isinstance(net, Classifier):
            raise TypeError(f"Classifier takes a network (a Sequential), got a {type(net).__name__}: to run a "
                            "classifier on all cores write DataParallel(Classifier(net, frontend)) or "
                            "DataParallel(net, frontend)")
        self.net, self.frontend = net, frontend
        self._x = None

    def _exclusive(self):
        """The network held for this thread's pass (a network without the lock: nothing held)."""
        exclusive = getattr(self.net, "exclusive", None)
        return exclusive() if exclusive is not None else contextlib.nullcontext()

    @property
    def n_logits(self):
        return self.net.n_logits

    def without_frontend(self):
        """The network alone, as a classifier of the same kind (what w_eq is read from)."""
        return self if self.frontend is None else type(self)(self.net)

    def forward(self, x):
        """Logits (B, L) at evaluation; remembers x for the following ``backward``.
        Raises ``ValueError`` for images outside [0, 1] (see the class docstring)."""
        if self.frontend is None:
            x = np.asarray(x)
            check_range(x)
            return self.net.forward(x)       # copies x: backward sees x as it was here
        x = np.array(x, copy=True)       # the front end's VJP needs x as it was at this pass
        with self._exclusive():
            logits = self.net.forward(self.frontend(x))
            self._x = x
        return logits

    __call__ = forward

    def backward(self, seed):
        """dJ/dx (B, 28, 28) for dJ/dlogits = seed, at the x of the last ``forward``
        (no parameter gradients)."""
        if self.frontend is not None and self._x is None:
            raise RuntimeError("Classifier.backward needs a forward pass first")
        with self._exclusive():
            g = self.net.backward(seed, param_grads=False)
            return g if self.frontend is None else self.frontend.vjp(self._x, g)

    def logits(self, x, batch_size=1000):
        """Logits (n, L) of images x (n, 28, 28), ``batch_size`` images per forward pass."""
        batch_size = check_batch_size(batch_size)
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)] or [np.zeros((0, self.n_logits))])

    def vjp(self, x, seed):
        with self._exclusive():      # forward and backward together: no other pass between them
            self.forward(x)
            return self.backward(seed)

    def predict(self, x, batch_size=1000):
        return predictions(self.logits(x, batch_size))


# -- network sparsity (Section 4) -----------------------------------------------------
PRUNE_RULES = ("global", "neuron")


def prune(layer, rho, rule="global"):
    """Zero all but the ``rho`` share of a Dense ``layer``'s weights largest in magnitude;
    returns the 0/1 mask. ``rule`` "global" keeps the floor(rho n) largest of the layer's
    n weights (at least one); "neuron" keeps K = floor(rho n_in) weights in each neuron
    (each column of W: the paper's w_i), so every ||w_i||_1, and Theorem 2's
    gamma = max_i ||w_i||_1, is a sum of K terms.

    Never more than that many are kept: of weights equal in magnitude (the zeros of an
    earlier prune, say), the one with the lower index in W (row-major) is kept first."""
    if not (isinstance(rho, (int, float, np.integer, np.floating)) and 0 < rho <= 1):
        raise ValueError(f"rho must be in (0, 1], got {rho!r}")
    W = layer.params["W"]
    # A stable sort of -|W| lists equal magnitudes in index order: the tie rule above.
    if rule == "global":
        keep = max(1, int(np.floor(rho * W.size)))
        mask = np.zeros_like(W)
        mask.reshape(-1)[np.argsort(-np.abs(W).ravel(), kind="stable")[:keep]] = 1
    elif rule == "neuron":
        keep = max(1, int(np.floor(rho * W.shape[0] + 1e-9)))     # 3% of 784 inputs: 23 per neuron
        top = np.argsort(-np.abs(W), axis=0, kind="stable")[:keep]
        mask = np.zeros_like(W)
        np.put_along_axis(mask, top, 1, axis=0)
    else:
        raise ValueError(f"prune rule must be one of {PRUNE_RULES}, got {rule!r}")
    W *= mask
    return mask


__all__ = ["Sequential", "Classifier", "check_range", "check_labels", "check_batch_size", "cnn4", "fc2", "fc10", "build", "predictions", "prune", "PRUNE_RULES",
           "ARCHITECTURES", "LAYERS"]
