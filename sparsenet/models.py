"""The paper's two networks (Section 5.1), the ``Sequential`` container, the
``Classifier`` that puts an optional front end before a network, and checkpoints.

Networks take images ``x : (B, 28, 28)`` and return logits ``(B, L)``: L = 10 for
``cnn4`` and L = 1 for the binary ``fc2`` (class 1 when the logit is positive).
"""
from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import files, parallel
from .layers import LAYERS, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Reshape

IMAGE_SHAPE = (28, 28)


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or belongs to another architecture.

    ``reason`` is the message without the file name (the cache logs it beside the file).
    """

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse.

    ``forward(x, train=False)`` : x (B, *input_shape) -> logits (B, L).
    ``backward(grad)`` : grad (B, L) = dJ/dlogits for any scalar J -> dJ/dx (B, *input_shape),
    filling every layer's ``grads`` on the way.
    """

    def __init__(self, layers, input_shape=IMAGE_SHAPE, arch="custom", config=None,
                 dtype=np.float32):
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        self.arch, self.config = arch, dict(config or {})
        self.dtype = np.dtype(dtype)

    # -- the two passes -------------------------------------------------------
    def forward(self, x, train=False):
        x = self._check_input(x)
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    __call__ = forward

    def backward(self, grad, param_grads=True, input_grad=True):
        """``input_grad=False`` (training) stops at the first weighted layer, after its
        parameter gradients, and returns None: nobody needs dJ/dx there."""
        grad = np.asarray(grad, dtype=self.dtype)
        first = None if input_grad else self.weighted[0]
        for layer in reversed(self.layers):
            if layer is first:
                return layer.backward(grad, param_grads, input_grad=False)
            grad = layer.backward(grad, param_grads)
        return grad

    def _check_input(self, x):
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape:
            raise ValueError(f"{self.arch} expects input of shape (B, {', '.join(map(str, self.input_shape))}), "
                             f"got {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"input must be floating point (images in [0, 1]), got dtype {x.dtype}")
        x = x.astype(self.dtype, copy=False)
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

    def replica(self):
        """The same network, sharing this one's parameter arrays, with layer state of its
        own: what ``parallel.DataParallel`` runs one slice of a batch on."""
        return Sequential([l.replica() for l in self.layers], self.input_shape, self.arch, self.config, self.dtype)

    def gradients(self):
        return [l.grads[k] for l in self.layers for k, _ in sorted(l.params.items())]

    def state_dict(self):
        return {f"{i}.{k}": v for i, l in enumerate(self.layers) for k, v in l.params.items()}

    def load_state_dict(self, state):
        own = self.state_dict()
        if set(own) != set(state):
            raise CheckpointError(f"checkpoint parameters {sorted(state)} do not match "
                                  f"{self.arch}'s {sorted(own)}")
        for k, v in own.items():
            if v.shape != state[k].shape:
                raise CheckpointError(f"parameter {k}: checkpoint has shape {state[k].shape}, "
                                      f"{self.arch} expects {v.shape}")
        for k, v in own.items():
            v[...] = state[k]

    def astype(self, dtype):
        """Convert parameters (and inputs from now on) to ``dtype``, in place."""
        self.dtype = np.dtype(dtype)
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
    seeds = np.random.SeedSequence(seed).spawn(2)
    layers = [Flatten(),
              Dense(28 * 28, hidden, rng=seeds[0], dtype=dtype), ReLU(),
              Dense(hidden, 1, rng=seeds[1], dtype=dtype, init="glorot")]
    return Sequential(layers, arch="fc2", config={"seed": seed, "hidden": hidden}, dtype=dtype)


ARCHITECTURES = {"cnn4": cnn4, "fc2": fc2}


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
    """

    def __init__(self, net, frontend=None):
        self.net, self.frontend = net, frontend

    @property
    def n_logits(self):
        return self.net.n_logits

    def forward(self, x):
        """Logits (B, L) at evaluation; remembers x for the following ``backward``.

        Runs data-parallel over the cores (``parallel.DataParallel``), on replicas: the
        network's own layers keep no state (nor switches) of it."""
        return self._engine().forward(x)

    def backward(self, seed):
        """dJ/dx (B, 28, 28) for dJ/dlogits = seed, at the x of the last ``forward``."""
        return self._engine().backward(seed)

    def _engine(self):
        engine = self.__dict__.get("_parallel")
        if engine is None or engine.net is not self.net or engine.frontend is not self.frontend:
            engine = self._parallel = parallel.DataParallel(self.net, self.frontend)
        return engine

    def logits(self, x, batch_size=1000):
        return np.concatenate([self.forward(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)] or [np.zeros((0, self.n_logits))])

    def vjp(self, x, seed):
        self.forward(x)
        return self.backward(seed)

    def predict(self, x, batch_size=1000):
        return predictions(self.logits(x, batch_size))


def save_checkpoint(path, net, metadata=None):
    """Write ``net``'s weights, architecture and ``metadata`` (a JSON-able dict:
    dataset, seed, defense settings...) to an ``.npz``, atomically."""
    header = {"arch": net.arch, "config": net.config, "dtype": net.dtype.name}
    arrays = {f"param/{k}": v for k, v in net.state_dict().items()}
    files.save_npz(path, __arch__=np.array(json.dumps(header)),
                   __meta__=np.array(json.dumps(metadata or {})), **arrays)


def load_checkpoint(path, arch=None):
    """Load a checkpoint; returns ``(net, metadata)``.

    Raises ``CheckpointError``, naming the file and what is wrong with it, when the file is
    missing, empty, truncated, not an ``.npz`` of plain arrays, lacks the header, the
    metadata or a parameter, names an unknown architecture, or (with ``arch``) holds
    another architecture. Nothing in a checkpoint is ever unpickled.
    """
    path = Path(path)

    def bad(reason):
        return CheckpointError(f"{path} is not a usable sparsenet checkpoint: {reason}", reason)

    try:
        with open(path, "rb") as f:
            start = f.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}", "no such file") from None
    except OSError as e:
        raise bad(f"cannot read it ({e.strerror or e})") from None
    if not start:
        raise bad("the file is empty")
    if start != b"PK\x03\x04":
        raise bad("not an .npz archive (it does not start with the zip signature)")
    try:
        data = files.load_npz(path)
    except (EOFError, zipfile.BadZipFile, zlib.error, struct.error) as e:
        raise bad(f"truncated or damaged archive ({type(e).__name__})") from None
    except (OSError, ValueError, KeyError) as e:
        detail = "an array holds Python objects" if "pickle" in str(e) else f"{type(e).__name__}: {e}"
        raise bad(f"unreadable archive ({detail})") from None

    header = _json_entry(data, "__arch__", "the architecture header", bad)
    metadata = _json_entry(data, "__meta__", "the metadata", bad)
    missing = [k for k in ("arch", "config", "dtype") if k not in header]
    if missing:
        raise bad(f"the header lacks {', '.join(map(repr, missing))}")
    if header["arch"] not in ARCHITECTURES:
        raise bad(f"unknown architecture {header['arch']!r} in the header (known: {', '.join(sorted(ARCHITECTURES))})")
    if arch is not None and header["arch"] != arch:
        raise CheckpointError(f"{path} holds a {header['arch']!r} network, not {arch!r}",
                              f"holds a {header['arch']!r} network, not {arch!r}")
    if not isinstance(header["config"], dict):
        raise bad(f"the header's config is {type(header['config']).__name__}, not an object")
    try:
        dtype = np.dtype(header["dtype"])
    except TypeError:
        raise bad(f"unknown dtype {header['dtype']!r} in the header") from None
    if dtype.kind != "f":
        raise bad(f"dtype {header['dtype']!r} in the header is not a floating-point type")
    try:
        net = build(header["arch"], **header["config"], dtype=dtype)
    except (TypeError, ValueError) as e:
        raise bad(f"the header's config {header['config']} does not build a {header['arch']} ({e})") from None
    params = {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}
    try:
        net.load_state_dict(params)
    except CheckpointError as e:
        raise bad(str(e)) from None
    except (TypeError, ValueError) as e:
        raise bad(f"a parameter does not hold numbers ({e})") from None
    return net, metadata


def _json_entry(data, key, what, bad):
    """The JSON object stored as a string array ``data[key]`` of a checkpoint."""
    if key not in data:
        raise bad(f"{what} ({key}) is missing")
    value = data.pop(key)
    if value.shape != () or value.dtype.kind != "U":
        raise bad(f"{what} ({key}) is not a string")
    try:
        obj = json.loads(str(value))
    except (ValueError, RecursionError):
        raise bad(f"{what} ({key}) is not valid JSON") from None
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")
        raise bad(f"{what} ({key}) is {kind} in JSON, not an object")
    return obj


__all__ = ["Sequential", "Classifier", "cnn4", "fc2", "build", "predictions",
           "save_checkpoint", "load_checkpoint", "CheckpointError", "LAYERS"]
