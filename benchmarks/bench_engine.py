"""Engine speed on this machine (a benchmark, not a test): cnn4 images/s for a training
step (batch 128), an input-gradient pass (batch 500, evaluation mode, as one attack
iteration) and a forward pass (batch 500), beside the float32 matmul GFLOP/s measured
now. The last line is one JSON object.

    python benchmarks/bench_engine.py [--repeats 20]
"""
import argparse
import json

import numpy as np

from timing import best_rate  # benchmarks/timing.py

from sparsenet.losses import cross_entropy
from sparsenet.models import cnn4
from sparsenet.optim import Adam

# Multiply-adds per image of cnn4's forward pass (conv1, conv2, dense1, dense2, dense3).
FORWARD_MACS = 28 * 28 * 20 * 25 + 10 * 10 * 40 * 500 + 1000 * 1000 + 1000 * 1000 + 1000 * 10


def matmul_gflops(n=2048, repeats=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return best_rate(lambda: a @ a, 2 * n ** 3, repeats) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    net = cnn4(seed=0)
    opt = Adam(net.parameters())

    x128, y128 = rng.random((128, 28, 28), dtype=np.float32), rng.integers(0, 10, 128)
    x500, y500 = rng.random((500, 28, 28), dtype=np.float32), rng.integers(0, 10, 500)

    def train_step():
        _, g = cross_entropy(net.forward(x128, train=True), y128)
        net.backward(g)
        opt.step(net.gradients())

    def input_grad():
        _, g = cross_entropy(net.forward(x500), y500, reduction="sum")
        net.backward(g, param_grads=False)

    gflops = matmul_gflops()
    result = {
        "train_img_per_s": best_rate(train_step, 128, args.repeats),
        "input_grad_img_per_s": best_rate(input_grad, 500, args.repeats),
        "forward_img_per_s": best_rate(lambda: net.forward(x500), 500, args.repeats),
        "matmul_gflops": gflops,
    }
    flops = {"train_img_per_s": 6 * FORWARD_MACS, "input_grad_img_per_s": 4 * FORWARD_MACS,
             "forward_img_per_s": 2 * FORWARD_MACS}  # backward ~ 2x forward; input-only ~ 1x
    for key, per_image in flops.items():
        achieved = result[key] * per_image / 1e9
        print(f"{key:22s} {result[key]:8,.0f} img/s   {achieved:6.1f} GFLOP/s = "
              f"{100 * achieved / gflops:4.1f}% of matmul peak")
    print(f"{'matmul_gflops':22s} {gflops:8.1f}")
    print(json.dumps({k: round(v, 1) for k, v in result.items()}))


if __name__ == "__main__":
    main()
