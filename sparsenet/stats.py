"""Error bars: binomial intervals for an accuracy, and aggregates over training seeds.

An accuracy measured on n test images is a binomial proportion; its 95% interval says
how far another draw of n images could move it. A spread over training seeds says how far
another training run could. REPORT.md gives both where both exist.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

Z95 = 1.959963984540054   # the standard normal's 97.5% quantile


def wilson_interval(successes, n, z=Z95):
    """The Wilson score interval (Wilson 1927) for ``successes`` out of ``n``, as
    (low, high) proportions in [0, 1]. Unlike p ± z sqrt(p(1-p)/n) it stays inside
    [0, 1] and is not of width 0 at 0% or 100%:

        center = (p + z²/2n) / (1 + z²/n),  half = z sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(successes, bool) or not isinstance(successes, numbers.Real) or not 0 <= successes <= n:
        raise ValueError(f"successes must be a number in [0, n = {n}], got {successes!r}")
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def accuracy_interval(accuracy, n, z=Z95):
    """The Wilson interval of an accuracy (a proportion) measured on n examples; the
    count of correct examples is recovered by rounding accuracy * n."""
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be a proportion in [0, 1], got {accuracy!r}")
    return wilson_interval(int(round(accuracy * n)), int(n), z)


def aggregate(values):
    """Mean, sample standard deviation (ddof 1; 0 for one value), min, max and count of
    one quantity measured over several training seeds."""
    v = np.asarray([float(x) for x in values], np.float64)
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"need finite values to aggregate, got {list(values)!r}")
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}
