"""Engine speed on this machine (a benchmark, not a test): cnn4 images/s for a training
step (batch 128, Adam), an input-gradient pass (batch 500, evaluation mode, as one attack
iteration) and a forward pass (batch 500), each as the rate of the mean time over the
repeats (how PyTorch's numbers are given), the median and the best; beside each, the share
of the float32 matmul roofline measured in the same run. The last line is one JSON object.

Every pass goes through ``parallel.DataParallel``, as ``run_all.py`` runs them: evaluation
in one slice per core, training in slices of 64 images (``SPARSENET_THREADS=1``: the same
slices in turn on one core). The first line names the OpenBLAS kernel that ran.

    python benchmarks/bench_engine.py [--repeats 20]
    python benchmarks/bench_engine.py --kernels as-is unset Haswell   # one run per BLAS setting

``--kernels`` runs the benchmark once per setting, each in a fresh process (OpenBLAS reads
its variables when it loads): ``as-is`` keeps the environment, ``unset`` removes
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, and a kernel name sets ``OPENBLAS_CORETYPE``.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

from timing import machine, matmul_gflops, rates  # benchmarks/timing.py (puts the repo on sys.path)

from sparsenet.losses import cross_entropy
from sparsenet.models import cnn4
from sparsenet.optim import Adam
from sparsenet.parallel import DataParallel

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Multiply-adds per image of cnn4's forward pass (conv1, conv2, dense1, dense2, dense3).
FORWARD_MACS = 28 * 28 * 20 * 25 + 10 * 10 * 40 * 500 + 1000 * 1000 + 1000 * 1000 + 1000 * 10
# FLOPs per image: forward 2 MACs; the input gradient adds one more product per layer,
# training two (input and weight gradients).
FLOPS = {"train": 6 * FORWARD_MACS, "input_grad": 4 * FORWARD_MACS, "forward": 2 * FORWARD_MACS}


def kernels(settings, repeats):
    """The benchmark in a fresh process per BLAS setting, then one table of them all."""
    rows = []
    for setting in settings:
        env = dict(os.environ)
        if setting == "unset":
            for var in BLAS_VARIABLES:
                env.pop(var, None)
        elif setting != "as-is":
            env["OPENBLAS_CORETYPE"] = setting
        out = subprocess.run([sys.executable, __file__, "--repeats", str(repeats)], env=env, check=True,
                             capture_output=True, text=True).stdout
        print(f"--- {setting}\n{out}", flush=True)
        rows.append((setting, json.loads(out.strip().splitlines()[-1])))
    print("| BLAS setting | kernel | matmul GFLOP/s | training step | input gradient | forward |")
    print("|---|---|---:|---:|---:|---:|")
    for setting, r in rows:
        print(f"| {setting} | {r['machine']['blas_kernel']} | {r['matmul_gflops']:.0f} | {r['train']['mean']:,.0f} | "
              f"{r['input_grad']['mean']:,.0f} | {r['forward']['mean']:,.0f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--kernels", nargs="+", metavar="SETTING",
                    help="run once per BLAS setting: as-is, unset, or a kernel name such as Haswell")
    args = ap.parse_args()
    if args.kernels:
        return kernels(args.kernels, args.repeats)
    rng = np.random.default_rng(0)
    net = cnn4(seed=0)
    opt = Adam(net.parameters())
    x128, y128 = rng.random((128, 28, 28), dtype=np.float32), rng.integers(0, 10, 128)
    x500, y500 = rng.random((500, 28, 28), dtype=np.float32), rng.integers(0, 10, 500)

    clf = DataParallel(net)

    def train_step():
        _, g = cross_entropy(clf.forward(x128, train=True), y128)
        clf.backward(g, input_grad=False)
        opt.step(net.gradients())

    def input_grad():
        _, g = cross_entropy(clf.forward(x500), y500, reduction="sum")
        clf.backward(g)

    gflops = matmul_gflops()
    result = {"train": rates(train_step, 128, args.repeats), "input_grad": rates(input_grad, 500, args.repeats),
              "forward": rates(lambda: clf.forward(x500), 500, args.repeats)}
    print(f"OpenBLAS kernel: {machine()['blas_kernel']}; float32 matmul {gflops:.1f} GFLOP/s; machine: {machine()}")
    print(f"{'img/s':12s} {'mean':>8s} {'median':>8s} {'best':>8s}   roofline  (share of it, at the mean)")
    for key, r in result.items():
        roof = gflops * 1e9 / FLOPS[key]
        print(f"{key:12s} {r['mean']:8,.0f} {r['median']:8,.0f} {r['best']:8,.0f}   {roof:8,.0f}  "
              f"({100 * r['mean'] / roof:.0f}%)")
        r["roofline_share"] = r["mean"] / roof
    print(json.dumps({"matmul_gflops": round(gflops, 1), **{k: {s: round(v, 3 if s == "roofline_share" else 1)
                                                                   for s, v in r.items()} for k, r in result.items()},
                      "machine": machine()}))


if __name__ == "__main__":
    main()
