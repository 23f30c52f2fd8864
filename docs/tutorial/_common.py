"""Small helpers the tutorial's chapters share: seeded data, trained networks, figures.

Everything is seeded, so a chapter prints the same numbers on every run. Networks are
trained by the library (``sparsenet.training.fit``; pruning is ``sparsenet.models.prune``)
in seconds (a few thousand images, one or two epochs); a trained network is cached for the
session and handed out as a fresh copy, so a chapter may change it.
"""
from __future__ import annotations

import copy
import functools
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sparsenet import data, models, stats, training  # noqa: E402
from sparsenet.layers import Dense, Flatten, ReLU  # noqa: E402

HERE = Path(__file__).resolve().parent
FIGURES_DIR = HERE / "figures"     # run.py points this elsewhere in --check mode
SAVED = []                         # names of the figures written since run.py last cleared it


# -- data ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _binary(name, split):
    x, y = data.load_binary(name, split, download=False)
    return x, y


def binary_task(name="mnist", n_train=None, n_test=None):
    """The paper's two-class task (MNIST: 3 -> 0, 7 -> 1), as float32 arrays in [0, 1].

    Returns x_train (n, 28, 28), y_train (n,), x_test, y_test. ``n_train`` / ``n_test``
    keep the first n examples of a fixed shuffle (seed 0), so a subset is the same every run.
    """
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = _binary(name, split)
        order = np.random.default_rng(0).permutation(len(x))[:n]
        out += [np.array(x[order]), np.array(y[order])]
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _tenclass(name, split):
    return data.load_dataset(name, split, download=False)


def ten_class_task(name="mnist", n_train=10000, n_test=1000):
    """All ten classes: x_train, y_train, x_test, y_test (first n of a seed-0 shuffle)."""
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = _tenclass(name, split)
        order = np.random.default_rng(0).permutation(len(x))[:n]
        out += [np.array(x[order]), np.array(y[order])]
    return tuple(out)


# -- accuracies with their error bars ---------------------------------------------------------
def ci(accuracy, n):
    """An accuracy measured on n images with its 95% Wilson interval (``sparsenet.stats``),
    as the chapters print it: '79.6% [75.8, 82.9]'."""
    low, high = stats.accuracy_interval(accuracy, n)
    return f"{accuracy:.1%} [{100 * low:.1f}, {100 * high:.1f}]"


# -- training ----------------------------------------------------------------------------
# The tutorial trains with the library: ``training.fit`` (Adam on cross-entropy plus the
# layers' weight penalties, seeded shuffling; ``log=None``: no progress lines) and measures
# with ``training.accuracy``.
BATCH_SIZE = 64        # small batches: two epochs on 12,396 digits are enough for fc2
LR = 1e-3


def linear_classifier(shape=(28, 28), seed=0):
    """A binary linear classifier y(x) = w^T x + b on images of ``shape`` (one logit)."""
    n = int(np.prod(shape))
    return models.Sequential([Flatten(), Dense(n, 1, rng=seed, init="glorot")], input_shape=shape,
                             arch="linear")


def mlp(hidden=64, classes=10, seed=0):
    """A fully connected ReLU network 784 -> hidden -> classes (a small multiclass model)."""
    seeds = np.random.SeedSequence(seed).spawn(2)
    return models.Sequential([Flatten(), Dense(784, hidden, rng=seeds[0]), ReLU(),
                              Dense(hidden, classes, rng=seeds[1], init="glorot")], arch="mlp")


@functools.lru_cache(maxsize=None)
def _trained(kind, frontend_key, l1, prune_rho, seed, n_train, epochs):
    if kind == "fc2":
        x, y, _, _ = binary_task("mnist", n_train=n_train)
        net = models.fc2(seed=seed)
    elif kind == "linear":
        x, y, _, _ = binary_task("mnist", n_train=n_train)
        net = linear_classifier(seed=seed)
    elif kind == "mlp":
        x, y, _, _ = ten_class_task("mnist", n_train=n_train)
        net = mlp(seed=seed)
    else:
        raise ValueError(f"unknown network kind {kind!r}")
    if frontend_key is not None:
        x = frontend(*frontend_key)(x)
    training.set_penalty(net, l1=l1, layers=[0])     # l1 on the first layer, as the reproduction's sparse fc2
    training.fit(net, x, y, epochs=epochs, batch_size=BATCH_SIZE, lr=LR, seed=seed, log=None)
    if prune_rho is not None:          # Section 4: prune each hidden neuron, then fine-tune with the mask fixed
        masks = [models.prune(layer, prune_rho, "neuron") for layer in net.weighted[:1]]
        training.set_penalty(net, l1=0.0)
        training.fit(net, x, y, epochs=1, batch_size=BATCH_SIZE, lr=LR / 2, seed=seed + 1, log=None,
                     after_step=lambda n: [l.params["W"].__imul__(m) for l, m in zip(n.weighted, masks)])
    return net


def trained(kind="fc2", frontend_args=None, l1=0.0, prune_rho=None, seed=0, n_train=None, epochs=2):
    """A trained network, as a fresh copy (float32).

    kind : "fc2" (MNIST 3 vs 7, 784 -> 10 -> 1), "linear" (MNIST 3 vs 7, 784 -> 1) or
        "mlp" (ten MNIST classes, 784 -> 64 -> 10; 10,000 training images by default)
    frontend_args : (basis, rho) to train on H_K(x) -- the network only ever sees H_K(x)
    l1 : l1 penalty on the first layer's weights during training (``training.set_penalty``;
        the full reproduction's sparse fc2 penalises that layer only); prune_rho : keep that share of each hidden
        neuron's weights after training (``models.prune(layer, rho, "neuron")``), then
        fine-tune one epoch without the penalty, the pruned weights held at zero (Section 4)
    """
    if kind == "mlp" and n_train is None:
        n_train = 10000
    key = None if frontend_args is None else tuple(frontend_args)
    return copy.deepcopy(_trained(kind, key, float(l1), prune_rho, seed, n_train, epochs))


def frontend(basis="cdf97", rho=0.03, gradient="exact"):
    from sparsenet.frontend import Sparsifier
    return Sparsifier(basis=basis, rho=rho, gradient=gradient)


# -- figures -------------------------------------------------------------------------------
def save_figure(fig, name, dpi=100):
    """Write ``fig`` to FIGURES_DIR/name (through a temporary file, then an atomic rename)."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=FIGURES_DIR)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        os.replace(tmp, FIGURES_DIR / name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        plt.close(fig)
    SAVED.append(name)


def image_with_colorbar(ax, img, title=None, symmetric=True, cmap=None):
    """Show a 28 x 28 image with a colour bar; signed images get a symmetric red-blue scale."""
    img = np.asarray(img).reshape(28, 28)
    if symmetric:
        lim = float(np.abs(img).max()) or 1.0
        im = ax.imshow(img, cmap=cmap or "RdBu_r", vmin=-lim, vmax=lim)
    else:
        im = ax.imshow(img, cmap=cmap or "gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im
