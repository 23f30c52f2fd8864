"""Timing helpers shared by the benchmark scripts (and the path set-up that lets every
script run from a fresh clone: ``python benchmarks/bench_engine.py``)."""
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # the package is imported from the clone, installed or not
    sys.path.insert(0, str(ROOT))


def rates(fn, items, repeats=10):
    """items / time of ``repeats`` calls of fn, after one warm-up call: the rate of the mean
    time (what PyTorch's own numbers report), the median rate and the best rate."""
    return interleaved_rates({"fn": fn}, items, repeats)["fn"]


def interleaved_rates(fns, items, repeats=10):
    """``rates`` of several functions ({name: fn}) taken in turn, one call of each per round,
    so that a machine whose speed drifts slows them all alike: their ratio is what holds."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: {"mean": items / statistics.mean(ts), "median": items / statistics.median(ts),
                   "best": items / min(ts)} for name, ts in times.items()}


def best_rate(fn, items, repeats=10):
    return rates(fn, items, repeats)["best"]


def matmul_gflops(n=2048, repeats=5):
    """float32 n x n matrix product GFLOP/s (best of ``repeats``): the roofline here."""
    import numpy as np
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return best_rate(lambda: a @ a, 2 * n ** 3, repeats) / 1e9


def machine():
    """What the numbers were measured on: the run's environment (versions, BLAS and its
    kernel, CPU, cores) and the thread settings."""
    from sparsenet.repro.environment import describe
    return {**describe(), "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "sparsenet_threads": os.environ.get("SPARSENET_THREADS", "default (one per core)")}
