"""Where the time goes (a benchmark, not a test): one cnn4 training step (batch 128),
one PGD iteration through the front end (batch 500) and one C&W iteration (batch 200,
BPDA front end), each split into matrix products (every np.matmul, timed by a wrapper),
Python overhead (the same step on a batch of 1, whose products are negligible) and the
rest: memory traffic and elementwise work (im2col copies, slice-adds, max-pool, masks,
temporaries). The last line is one JSON object.

It profiles the serial engine (``SPARSENET_THREADS=1``): in the data-parallel path each
core does this same work on its slice of the batch, and a wrapper timing products in two
threads at once would add up both. ``bench_attacks.py`` gives the parallel rates.

    python benchmarks/profile_engine.py [--repeats 10]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np

import timing  # noqa: F401  (puts the repository on sys.path)

from sparsenet import attacks
from sparsenet.frontend import Sparsifier
from sparsenet.losses import cross_entropy
from sparsenet.models import Classifier, cnn4
from sparsenet.optim import Adam

_matmul = np.matmul
spent = [0.0]


def timed_matmul(*args, **kwargs):
    t = time.perf_counter()
    out = _matmul(*args, **kwargs)
    spent[0] += time.perf_counter() - t
    return out


def scenarios(B_train=128, B_attack=500, B_cw=200):
    rng = np.random.default_rng(0)
    net = cnn4(seed=0)
    opt = Adam(net.parameters())
    clf = Classifier(net, Sparsifier())
    bpda = Classifier(net, Sparsifier(gradient="bpda"))

    def train(B):
        x, y = rng.random((B, 28, 28), dtype=np.float32), rng.integers(0, 10, B)

        def step():
            _, g = cross_entropy(net.forward(x, train=True), y)
            net.backward(g, input_grad=False)
        step.optimizer = lambda: opt.step(net.gradients())    # timed apart: its cost does not scale with B
        return step

    def pgd(B):
        x, y = rng.random((B, 28, 28), dtype=np.float32), rng.integers(0, 10, B)
        state = {"x": x.copy()}

        def step():   # one PGD iteration: forward, backward through the front end, step, projection
            _, g = attacks.loss_gradient(clf, state["x"], y)
            state["x"] = attacks.project(state["x"] + 0.0125 * np.sign(g), x, 0.25)
        return step

    def cw(B):
        x, y = rng.random((B, 28, 28), dtype=np.float32), rng.integers(0, 10, B)
        w = np.arctanh((2 * x.astype(np.float64) - 1) * (1 - 1e-6))
        m, v = np.zeros_like(w), np.zeros_like(w)

        def step():   # one C&W iteration: forward, logit-margin seed, backward (BPDA), Adam on w
            xa = (np.tanh(w) + 1) / 2
            logits = bpda.forward(xa.astype(np.float32)).astype(np.float64)
            seed = np.zeros_like(logits)
            seed[np.arange(B), y] = 1e-3
            g = bpda.backward(seed.astype(np.float32)).astype(np.float64) + 2 * (xa - x)
            g *= (1 - np.tanh(w) ** 2) / 2
            m[...] = 0.9 * m + 0.1 * g
            v[...] = 0.999 * v + 0.001 * g * g
            w[...] -= 1e-2 * m / (np.sqrt(v) + 1e-8)
        return step

    return {"training step (batch 128)": (train, B_train), "PGD iteration, front end (batch 500)": (pgd, B_attack),
            "C&W iteration, BPDA front end (batch 200)": (cw, B_cw)}


def measure(step, repeats):
    step()
    totals, products = [], []
    for _ in range(repeats):
        spent[0] = 0.0
        t = time.perf_counter()
        step()
        totals.append(time.perf_counter() - t)
        products.append(spent[0])
    return statistics.median(totals), statistics.median(products)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    os.environ["SPARSENET_THREADS"] = "1"
    np.matmul = timed_matmul
    try:
        out = {}
        for name, (make, B) in scenarios().items():
            step = make(B)
            total, products = measure(step, args.repeats)
            overhead, _ = measure(make(1), args.repeats)
            update = measure(step.optimizer, args.repeats)[0] if hasattr(step, "optimizer") else 0.0
            rest = max(total - products - overhead, 0.0)
            total += update
            out[name] = {"ms": 1e3 * total, "matmul_share": products / total, "python_share": overhead / total,
                         "memory_and_elementwise_share": rest / total, "optimizer_share": update / total}
            print(f"{name:44s} {1e3 * total:7.1f} ms: products {100 * products / total:3.0f}%, memory traffic "
                  f"and elementwise {100 * rest / total:3.0f}%, Python overhead {100 * overhead / total:3.0f}%"
                  + (f", optimizer update {100 * update / total:3.0f}%" if update else ""))
    finally:
        np.matmul = _matmul
    print(json.dumps({k: {s: round(v, 3) for s, v in r.items()} for k, r in out.items()}))


if __name__ == "__main__":
    main()
