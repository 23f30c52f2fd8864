"""Timing helper shared by the benchmark scripts."""
import time


def best_rate(fn, items, repeats=10):
    """items / (best wall time of ``repeats`` calls of fn), after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return items / best
