"""Exact verification speed (a benchmark, not a test): examples verified per second by
``verify.exact`` on the sparse fc2 (MNIST 3 vs 7) and on the undefended fc10 (ten classes), at
eps = 0.25 and 0.1, with and without the fast path (an attack's images: the examples they break
need no program), with and without LP bound tightening, and with the ideal-formulation cuts off;
and ``verify.minimal_radius`` per example. The last line is one JSON object.

    python benchmarks/bench_verify.py [--n 200] [--fc2 PATH] [--fc10 PATH] [--deep] [--workers 2]

The networks are trained here (the sparse fc2 as the reproduction trains it: l1 0.1 on the first
layer, Adam, 30 epochs, pruned to 3% per neuron; fc10 with Adam for 8 epochs; about two minutes
together) unless checkpoints are given. The attack of the fast path is PGD (50 steps of eps / 10,
one random start): weaker than the reproduction's suite, so more examples are left to the solver
than there. ``--deep`` adds a 784-50-50-10 network (3 epochs), the kind where LP tightening can
change the bounds (fc2 and fc10 have one hidden layer, whose interval bounds are already exact).

Rates are examples / wall second (the machine is shared: the CPU seconds of the process are
given beside them, and are what to compare across sittings).
"""
import argparse
import json
import time

import numpy as np

from timing import machine  # benchmarks/timing.py (puts the repo on sys.path)

from sparsenet import attacks, verify
from sparsenet.checkpoints import load_checkpoint
from sparsenet.data import load_binary, load_dataset
from sparsenet.layers import Dense, Flatten, ReLU
from sparsenet.models import Classifier, Sequential, fc2, fc10, prune
from sparsenet.parallel import DataParallel
from sparsenet.training import accuracy, fit, set_penalty

QUIET = None          # no progress lines from training or verification


def sparse_fc2(x, y):
    net = fc2(seed=0)
    set_penalty(net, l1=0.1, l2=1e-3, layers=[0])
    fit(DataParallel(net), x, y, epochs=30, batch_size=32, optimizer="adam", lr=1e-3, lr_decay=0.95,
        log=lambda line: None)
    prune(net.weighted[0], 0.03, "neuron")
    return net


def plain_fc10(x, y):
    net = fc10(seed=0)
    set_penalty(net, l2=1e-4)
    fit(DataParallel(net), x, y, epochs=8, batch_size=128, optimizer="adam", lr=1e-3, lr_decay=0.8,
        log=lambda line: None)
    return net


def deep(x, y):
    rng = np.random.SeedSequence(0).spawn(3)
    net = Sequential([Flatten(), Dense(784, 50, rng=rng[0]), ReLU(), Dense(50, 50, rng=rng[1]), ReLU(),
                      Dense(50, 10, rng=rng[2], init="glorot")], arch="deep")
    fit(DataParallel(net), x, y, epochs=3, batch_size=128, optimizer="adam", lr=1e-3, log=lambda line: None)
    return net


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="test images per network (the first ones)")
    ap.add_argument("--eps", type=float, nargs="+", default=[0.25, 0.1])
    ap.add_argument("--fc2", help="a sparse fc2 checkpoint (else trained here)")
    ap.add_argument("--fc10", help="an fc10 checkpoint (else trained here)")
    ap.add_argument("--deep", action="store_true", help="also a two-hidden-layer network")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--deep-n", type=int, default=50, help="test images for --deep")
    ap.add_argument("--radius-n", type=int, default=20, help="images for minimal_radius (fc10: a quarter)")
    ap.add_argument("--workers", type=int, default=1, help="threads of verify.exact")
    args = ap.parse_args()

    binary, ten = load_binary("mnist", "train"), load_dataset("mnist", "train")
    tests = {"fc2 sparse": load_binary("mnist", "test"), "fc10": load_dataset("mnist", "test")}
    nets = {"fc2 sparse": load_checkpoint(args.fc2)[0] if args.fc2 else sparse_fc2(*binary),
            "fc10": load_checkpoint(args.fc10)[0] if args.fc10 else plain_fc10(*ten)}
    if args.deep:
        nets["deep 50-50"], tests["deep 50-50"] = deep(*ten), tests["fc10"]
    configs = {"default": {}, "LP tightening": {"tighten": True}, "no cuts": {"cuts": False}}
    rows, out = [], {}
    for name, net in nets.items():
        x, y = (a[:args.deep_n if name == "deep 50-50" else args.n] for a in tests[name])
        clf = Classifier(net)
        clean = accuracy(clf, x, y)
        for eps in args.eps:
            x_adv = attacks.pgd(clf, x, y, eps, eps / 10, 50, rng=0)
            attacked = float(np.mean(clf.predict(x_adv) == y))
            for fast in (True, False):
                for label, kwargs in configs.items():
                    if not fast and (label != "default" or name == "deep 50-50"):
                        continue        # without the fast path: the default only (the slow corner)
                    result, wall, cpu = timed(lambda: verify.exact(
                        net, x, y, eps, time_limit=args.time_limit, x_adv=x_adv if fast else None,
                        workers=args.workers, log=QUIET, **kwargs))
                    key = f"{name}/eps={eps:g}/{'fast path' if fast else 'no fast path'}/{label}"
                    out[key] = {"examples_per_s": len(x) / wall, "cpu_s_per_example": cpu / len(x),
                                "counts": result.counts, "robust_accuracy": result.robust_accuracy,
                                "pgd_accuracy": attacked, "clean_accuracy": clean,
                                "max_seconds": float(result.seconds.max())}
                    rows.append((key, out[key]))
                    print(f"{key:58s} {len(x) / wall:8.1f}/s  {1000 * cpu / len(x):8.1f} ms CPU each  "
                          f"{result.summary().split(': ', 1)[1].split('; solver')[0]}", flush=True)
        k = args.radius_n if name == "fc2 sparse" else args.radius_n // 4     # fc10's radius is far costlier
        xr, yr = x[:k], y[:k]
        radius, wall, cpu = timed(lambda: verify.minimal_radius(net, xr, yr, time_limit=args.time_limit, log=QUIET))
        key = f"{name}/minimal radius"
        out[key] = {"examples_per_s": len(xr) / wall, "cpu_s_per_example": cpu / len(xr), "counts": radius.counts,
                    "median_radius": float(np.median(radius.radius[radius.status == "exact"]))
                    if np.any(radius.status == "exact") else None}
        print(f"{key:58s} {len(xr) / wall:8.2f}/s  {1000 * cpu / len(xr):8.1f} ms CPU each  {radius.summary()}",
              flush=True)
    print(json.dumps({k: {s: (round(v, 4) if isinstance(v, float) else v) for s, v in r.items()}
                      for k, r in out.items()} | {"n": args.n, "machine": machine()}))


if __name__ == "__main__":
    main()
