"""Training loop: seeded shuffling, mini-batches, weight penalties, progress lines."""
from __future__ import annotations

import numbers
import time

import numpy as np

from . import progress
from .losses import cross_entropy, weight_penalty
from .models import Classifier, check_batch_size, check_labels
from .optim import OPTIMIZERS
from .parallel import DataParallel


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and np.isfinite(value)


def set_penalty(net, l1=0.0, l2=0.0, layers=None):
    """Set the l1 / l2 weight penalty of the weighted layers ``layers`` (indices into
    ``net.weighted``; all of them by default). Section 4's network sparsity is l1."""
    for name, value in (("l1", l1), ("l2", l2)):
        if not (_is_real(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    weighted = net.weighted
    for i in range(len(weighted)) if layers is None else layers:
        weighted[i].l1, weighted[i].l2 = float(l1), float(l2)


def accuracy(model, x, y, batch_size=1000):
    """Share of correctly classified examples; ``model`` is a network or a Classifier.
    y : (n,) integer labels, one per image of x : (n, 28, 28)."""
    clf = model if isinstance(model, Classifier) else Classifier(model)
    x = np.asarray(x)
    y = check_labels(y, len(x), clf.n_logits)
    return float(np.mean(clf.predict(x, batch_size) == y))


def batches(n, batch_size, rng):
    """One epoch's batches: a permutation of the n examples drawn from ``rng``, cut into
    consecutive chunks of ``batch_size``; the last chunk holds the remainder, if any."""
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def fit(model, x, y, *, epochs, batch_size=128, optimizer="adam", lr=1e-3, lr_decay=1.0,
        momentum=0.9, x_val=None, y_val=None, seed=0, after_step=None, log=progress.stderr,
        progress_every=15.0):
    """Train a network on (x, y) with cross-entropy plus its layers' weight penalties.

    ``model`` is the network (a ``Sequential``), a ``Classifier`` without front end (its
    network is trained), or ``parallel.DataParallel(net)`` to run each batch on all cores.
    x : (n, 28, 28) float images, y : (n,) integer labels. Every epoch visits the images in
    a new order drawn from ``seed``, in consecutive batches of ``batch_size`` images, the
    last one holding the remainder (``batches``). The learning rate is multiplied by
    ``lr_decay`` after every epoch. ``after_step(net)``, if given, runs after every
    optimizer step (e.g. to keep pruned weights at zero). With ``x_val`` and ``y_val``,
    the validation accuracy is measured after every epoch.

    Progress: one line per epoch (loss, validation accuracy if any, images/s, ETA), and one
    every ``progress_every`` seconds inside long epochs, through ``log`` (a function of one
    line of text; ``progress.stderr`` by default, None for silence).

    If the loss stops being finite, the weights are restored to those before the failing
    step (the last step taken, after which the loss was no longer finite: the last weights
    with a finite loss) and ``FloatingPointError`` is raised.

    Returns the history: per-epoch ``loss``, ``val_acc`` (NaN without a validation set),
    ``img_per_s``, and ``seconds``.
    """
    if isinstance(model, Classifier) and not isinstance(model, DataParallel):
        if model.frontend is not None:
            raise ValueError("fit trains the network alone: sparsify the images with the front end first, "
                             "then fit the network")
        model = model.net
    net = model.net if isinstance(model, DataParallel) else model
    if isinstance(model, DataParallel) and model.frontend is not None:
        raise ValueError("fit trains the network alone: sparsify the images with the front end first, "
                         "then fit the network")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as images (> 0), got {len(x)} images and {len(y)} labels")
    y = check_labels(y, len(x), net.n_logits)
    if isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    batch_size = check_batch_size(batch_size)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {sorted(OPTIMIZERS)}")
    if not (_is_real(lr_decay) and lr_decay > 0):
        raise ValueError(f"lr_decay must be a finite number > 0 (the learning rate's factor after every "
                         f"epoch), got {lr_decay!r}")
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val go together: pass both (a validation set) or neither, got "
                         + ("x_val without y_val" if y_val is None else "y_val without x_val"))
    if x_val is not None:
        x_val = np.asarray(x_val)
        y_val = check_labels(y_val, len(x_val), net.n_logits, name="y_val", images="x_val")
    if not (_is_real(progress_every) and progress_every > 0):
        raise ValueError(f"progress_every must be a finite number of seconds > 0, got {progress_every!r}")
    log = progress.check_log(log)
    opt_kwargs = {"momentum": momentum} if optimizer == "sgd" else {}
    opt = OPTIMIZERS[optimizer](net.parameters(), lr=lr, **opt_kwargs)
    params = net.parameters()
    before = None           # the weights at the start of the last step taken
    rng = np.random.default_rng(seed)
    history = {"loss": [], "val_acc": [], "img_per_s": [], "seconds": 0.0}
    start = time.perf_counter()
    n = len(x)
    for epoch in range(1, epochs + 1):
        t0, total, seen = time.perf_counter(), 0.0, 0
        report = progress.Progress(f"  epoch {epoch}/{epochs}", total=n, log=log, unit="images",
                                   delay=progress_every, every=progress_every)
        for idx in batches(n, batch_size, rng):
            logits = model.forward(x[idx], train=True)
            loss, grad = cross_entropy(logits, y[idx])
            model.backward(grad, input_grad=False)
            loss += weight_penalty(net.weighted)
            if not np.isfinite(loss):
                _diverged(params, before, epoch, f"the loss became {loss}", opt.lr)
            if before is None:
                before = [np.empty_like(p) for p in params]
            for saved, p in zip(before, params):
                np.copyto(saved, p)
            opt.step(net.gradients())
            if after_step is not None:
                after_step(net)
            total, seen = total + loss * len(idx), seen + len(idx)
            report.update(seen, f"loss {total / seen:.4f}, {seen / (time.perf_counter() - t0):,.0f} img/s")
        # The last step's weights have no loss of their own yet: check them before they are used.
        if not all(np.isfinite(p).all() for p in params):
            _diverged(params, before, epoch, "the weights became NaN or infinite", opt.lr)
        elapsed = time.perf_counter() - t0
        val = accuracy(model, x_val, y_val) if x_val is not None else float("nan")
        history["loss"].append(total / seen)
        history["val_acc"].append(val)
        history["img_per_s"].append(seen / elapsed)
        if log is not None:
            eta = (time.perf_counter() - start) / epoch * (epochs - epoch)
            val_column = f"  val acc {100 * val:.2f}%" if x_val is not None else ""
            log(f"epoch {epoch}/{epochs}  loss {total / seen:.4f}{val_column}  {seen / elapsed:,.0f} img/s  "
                f"ETA {progress.duration(eta)}")
        opt.lr *= lr_decay
    history["seconds"] = time.perf_counter() - start
    return history


def _diverged(params, before, epoch, what, lr):
    """Put back the weights of the start of the last step, if a step was taken, and raise."""
    if before is None:
        raise FloatingPointError(f"training diverged at epoch {epoch}: {what} before any step, with the weights "
                                 f"as given (left unchanged)")
    for p, saved in zip(params, before):
        np.copyto(p, saved)
    raise FloatingPointError(f"training diverged at epoch {epoch}: {what}; the weights were restored to those "
                             f"before the failing step; lower the learning rate (it was {lr:g})")
