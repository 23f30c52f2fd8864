"""Training loop: seeded shuffling, mini-batches, weight penalties, progress lines."""
from __future__ import annotations

import sys
import time

import numpy as np

from .losses import cross_entropy, weight_penalty
from .models import Classifier
from .optim import OPTIMIZERS


def set_penalty(net, l1=0.0, l2=0.0, layers=None):
    """Set the l1 / l2 weight penalty of the weighted layers ``layers`` (indices into
    ``net.weighted``; all of them by default). Section 4's network sparsity is l1."""
    if l1 < 0 or l2 < 0:
        raise ValueError(f"penalties must be >= 0, got l1={l1}, l2={l2}")
    weighted = net.weighted
    for i in range(len(weighted)) if layers is None else layers:
        weighted[i].l1, weighted[i].l2 = float(l1), float(l2)


def accuracy(model, x, y, batch_size=1000):
    """Share of correctly classified examples; ``model`` is a network or a Classifier."""
    clf = model if isinstance(model, Classifier) else Classifier(model)
    return float(np.mean(clf.predict(x, batch_size) == np.asarray(y)))


def fit(model, x, y, *, epochs, batch_size=128, optimizer="adam", lr=1e-3, lr_decay=1.0,
        momentum=0.9, x_val=None, y_val=None, seed=0, after_step=None, log=None,
        progress_every=15.0):
    """Train a network on (x, y) with cross-entropy plus its layers' weight penalties.

    ``model`` is the network (a ``Sequential``), or ``parallel.DataParallel(net)`` to run
    each batch on all cores. x : (n, 28, 28) float images, y : (n,) integer labels. The
    learning rate is multiplied by ``lr_decay`` after every epoch. Shuffling is seeded by
    ``seed``. ``after_step(net)``, if given, runs after every optimizer step (e.g. to keep
    pruned weights at zero). One progress line per epoch (loss, validation accuracy, images/s, ETA), and one
    every ``progress_every`` seconds inside long epochs; ``log`` defaults to stderr.
    Returns the history: per-epoch ``loss``, ``val_acc``, ``img_per_s``, and ``seconds``.
    """
    net = model.net if isinstance(model, Classifier) else model
    if isinstance(model, Classifier) and model.frontend is not None:
        raise ValueError("fit trains the network alone: sparsify the images with the front end first, "
                         "then fit the network")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as images (> 0), got {len(x)} images and {len(y)} labels")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {sorted(OPTIMIZERS)}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    opt_kwargs = {"momentum": momentum} if optimizer == "sgd" else {}
    opt = OPTIMIZERS[optimizer](net.parameters(), lr=lr, **opt_kwargs)
    rng = np.random.default_rng(seed)
    history = {"loss": [], "val_acc": [], "img_per_s": [], "seconds": 0.0}
    start = time.perf_counter()
    n = len(x)
    for epoch in range(1, epochs + 1):
        t0, last, total, seen = time.perf_counter(), time.perf_counter(), 0.0, 0
        for idx in np.array_split(rng.permutation(n), max(1, n // batch_size)):
            logits = model.forward(x[idx], train=True)
            loss, grad = cross_entropy(logits, y[idx])
            model.backward(grad, input_grad=False)
            loss += weight_penalty(net.weighted)
            opt.step(net.gradients())
            if after_step is not None:
                after_step(net)
            total, seen = total + loss * len(idx), seen + len(idx)
            if not np.isfinite(loss):
                raise FloatingPointError(f"training diverged at epoch {epoch} (loss {loss}); lower the learning rate")
            if time.perf_counter() - last > progress_every:
                last = time.perf_counter()
                rate = seen / (last - t0)
                log(f"  epoch {epoch}/{epochs}: {seen:,}/{n:,} images, loss {total / seen:.4f}, "
                    f"{rate:,.0f} img/s")
        elapsed = time.perf_counter() - t0
        val = accuracy(model, x_val, y_val) if x_val is not None else float("nan")
        history["loss"].append(total / seen)
        history["val_acc"].append(val)
        history["img_per_s"].append(seen / elapsed)
        eta = (time.perf_counter() - start) / epoch * (epochs - epoch)
        log(f"epoch {epoch}/{epochs}  loss {total / seen:.4f}  val acc {100 * val:.2f}%  "
            f"{seen / elapsed:,.0f} img/s  ETA {eta:.0f}s")
        opt.lr *= lr_decay
    history["seconds"] = time.perf_counter() - start
    return history
