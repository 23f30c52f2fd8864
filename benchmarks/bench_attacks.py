"""Attack speed on cnn4 (a benchmark, not a test), batch 500, float32: PGD and APGD
image-iterations/s without and with the CDF 9/7 front end (rho = 3%, exact gradient) and
the front end's share of an iteration; the Square Attack's queries/s (forward passes only)
and C&W's image-iterations/s through the BPDA front end; and the peak memory of one PGD
batch through the front end, against the bound stated below. The last line is one JSON
object.

    python benchmarks/bench_attacks.py [--iterations 10]

Target: the front end costs at most 5% of an attack iteration (measured as its
share of the CPU time, which the VM's drifting speed does not blur); one attack batch of 500
stays under MEMORY_BOUND_MB.
"""
import argparse
import json
import time
import tracemalloc

import numpy as np

from timing import interleaved_rates, machine, rates  # benchmarks/timing.py (puts the repo on sys.path)

from sparsenet import attacks
from sparsenet.frontend import Sparsifier
from sparsenet.models import Classifier, cnn4
from sparsenet.parallel import DataParallel

TINY_EPS = 1e-5
MEMORY_BOUND_MB = 400     # one batch of 500 through cnn4 and the front end, buffers included


def frontend_cpu_share(clf, x, y, its):
    """The front end's share of the CPU time of PGD through it: the CPU time of its calls
    (``time.thread_time`` in whichever thread runs them) over the process's CPU time. Wall
    times on this VM drift more than the front end costs; CPU time does not count the moments
    the VM loses a core. Valid on the data-parallel path (the default), where BLAS runs in the
    calling thread: with BLAS threads of its own (``SPARSENET_THREADS=1``) their time would be
    missed."""
    attacks.pgd(clf, x, y, 0.25, 0.0125, 1, rng=0)      # warm-up: the operators are built once
    cls, spent = type(clf.frontend), []
    plain_call, plain_vjp = cls.__call__, cls.vjp

    def timed(fn):
        def wrapper(self, *args, **kwargs):
            t = time.thread_time()
            out = fn(self, *args, **kwargs)
            spent.append(time.thread_time() - t)
            return out
        return wrapper
    cls.__call__, cls.vjp = timed(plain_call), timed(plain_vjp)
    try:
        t = time.process_time()
        attacks.pgd(clf, x, y, 0.25, 0.0125, its, rng=0)
        total = time.process_time() - t
    finally:
        cls.__call__, cls.vjp = plain_call, plain_vjp
    return sum(spent) / total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x, y = rng.random((500, 28, 28), dtype=np.float32), rng.integers(0, 10, 500)
    net = cnn4(seed=0)
    plain, front = DataParallel(net), DataParallel(Classifier(net, Sparsifier()))
    its, reps = args.iterations, args.repeats
    out = {}
    # No example is ever fooled here (random labels on random images stay at ~10% accuracy, and
    # stop_on_success is off), so every iteration runs on all 500 images.
    # With and without the front end in turn (the machine's speed drifts between sittings), and
    # the front end's share from the medians.
    out |= interleaved_rates({name: (lambda clf=clf: attacks.pgd(clf, x, y, 0.25, 0.0125, its, rng=0))
                              for name, clf in (("pgd", plain), ("pgd_frontend", front))},
                             len(x) * its, max(reps, 5))
    out["frontend_share"] = 1 - out["pgd_frontend"]["median"] / out["pgd"]["median"]
    out["frontend_cpu_share"] = frontend_cpu_share(front, x, y, its)
    # APGD and Square attack only correctly classified examples and drop the fooled ones: give
    # them the network's own labels and a budget too small to fool any. The untrained network's
    # margins are tiny: ε = 0.01 fooled 77% of the images within 10 APGD steps (the rate then
    # counted work never done); ε = 1e-5 fools none, and the work per step does not depend on ε.
    own = front.predict(x)
    for name, clf in (("apgd", plain), ("apgd_frontend", front)):
        labels = clf.predict(x)
        out[name] = rates(lambda: attacks.apgd(clf, x, labels, TINY_EPS, iterations=its, rng=0), len(x) * its, reps)
    out["square_queries"] = rates(lambda: attacks.square(front, x, own, TINY_EPS, queries=its, rng=0),
                                  len(x) * its, reps)
    bpda = DataParallel(Classifier(net, Sparsifier(gradient="bpda")))
    out["cw_bpda"] = rates(lambda: attacks.carlini_wagner_l2(bpda, x[:200], own[:200], binary_steps=1,
                                                             max_iterations=its, abort_early=False),
                           200 * its, reps)
    tracemalloc.start()
    attacks.pgd(front, x, y, 0.25, 0.0125, 2, rng=0)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    out["peak_mb_one_pgd_batch"] = peak_mb

    print(f"machine: {machine()}")
    print(f"{'per second':32s} {'mean':>8s} {'median':>8s} {'best':>8s}")
    for name, label in (("pgd", "PGD image-iterations"), ("pgd_frontend", "PGD, front end"),
                        ("apgd", "APGD image-iterations"), ("apgd_frontend", "APGD, front end"),
                        ("square_queries", "Square queries, front end"), ("cw_bpda", "C&W image-iterations, BPDA")):
        r = out[name]
        print(f"{label:32s} {r['mean']:8,.0f} {r['median']:8,.0f} {r['best']:8,.0f}")
    print(f"front end share of a PGD iteration: {100 * out['frontend_cpu_share']:.1f}% of its CPU time "
          f"(target <= 5%); from wall times with and without it: {100 * out['frontend_share']:.1f}%")
    print(f"peak memory of one PGD batch of 500 through the front end: {peak_mb:.0f} MB "
          f"(bound {MEMORY_BOUND_MB} MB: {'within' if peak_mb <= MEMORY_BOUND_MB else 'OVER'})")
    print(json.dumps({k: ({s: round(v, 1) for s, v in r.items()} if isinstance(r, dict) else round(r, 4))
                      for k, r in out.items()} | {"machine": machine()}))


if __name__ == "__main__":
    main()
