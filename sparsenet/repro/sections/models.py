"""The cells of a trained network: its clean test accuracy, and beside it its validation
accuracies (clean; before pruning, for a sparse network; under the locally linear attack, the
measure a sparse network's setting is chosen by)."""
from __future__ import annotations

from .base import seeded

VALIDATION = (("val", "val_accuracy"), ("val_unpruned", "val_accuracy_unpruned"),
              ("val_adversarial", "val_adversarial_accuracy"))


def model_cells(key, info, stem, seed=None, s=None):
    """{key: (clean test accuracy %, test images)} and ``<stem>/val``, ``/val_unpruned``,
    ``/val_adversarial`` (with ``key``'s training ``seed``, if it has one) from the network's
    metadata."""
    out = {key: (100 * info["test_accuracy"], info.get("n_test"))}
    for name, field in VALIDATION:
        if field in info:
            cell = f"{stem}/{name}"
            out[cell if seed is None else seeded(cell, seed, s)] = (100 * info[field], info.get("n_val"))
    return out


def record(info):
    """What a section's results file keeps of a network's metadata."""
    keep = ("spec", "test_accuracy", "val_accuracy", "val_accuracy_unpruned", "n_val", "n_test", "train_seconds",
            "first_layer_nonzero", "history")
    return {k: info[k] for k in keep if k in info}
