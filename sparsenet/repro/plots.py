"""What every figure of the reproduction shares: matplotlib on the Agg backend (no screen), and
``save``, which writes a figure atomically as a PNG. Each section draws its own figures
(``sections/<name>.py``) from results already computed; nothing here runs an experiment.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .. import files  # noqa: E402

__all__ = ["plt", "save"]


def save(fig, path):
    """Write ``fig`` to ``path`` (PNG, 120 dpi, tight), close it, return the path."""
    files.save_figure(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)
