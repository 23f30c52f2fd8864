"""Front-end speed (a benchmark, not a test): images/s of the CDF 9/7 sparsifier at
rho = 3% on 28x28 images, batch 1,000, float32 — forward, VJP right after the forward
pass on the same images (what an attack iteration does), VJP from cold, and a per-image
PyWavelets loop for comparison. The last line is one JSON object.
"""
import json
import warnings

import numpy as np
import pywt

from timing import best_rate  # benchmarks/timing.py

from sparsenet.frontend import Sparsifier


def pywt_loop(x, K):
    for img in x:
        arr, slices = pywt.coeffs_to_array(pywt.wavedec2(img, "bior4.4", mode="periodization", level=1))
        flat = arr.ravel()
        flat[np.argpartition(np.abs(flat), flat.size - K)[:flat.size - K]] = 0
        pywt.waverec2(pywt.array_to_coeffs(arr, slices, output_format="wavedec2"), "bior4.4", mode="periodization")


def main():
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x = rng.random((1000, 28, 28), dtype=np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    sp = Sparsifier("cdf97", level=1, rho=0.03)
    # New content each call (as each attack iterate has) so the one-entry cache never hits.
    counter = iter(range(1, 10 ** 9))
    fresh = lambda: x * np.float32(1 - 1e-6 * next(counter))

    def cold_vjp():
        sp._last = None
        sp.vjp(x, g)

    def forward_then_vjp():
        xi = fresh()
        sp(xi)
        sp.vjp(xi, g)

    result = {
        "forward_img_per_s": best_rate(lambda: sp(fresh()), len(x)),
        "forward_vjp_pair_img_per_s": best_rate(forward_then_vjp, len(x)),
        "vjp_cold_img_per_s": best_rate(cold_vjp, len(x)),
        "pywt_loop_img_per_s": best_rate(lambda: pywt_loop(x[:200].astype(np.float64), sp.K), 200, 3),
    }
    for k, v in result.items():
        print(f"{k:28s} {v:10,.0f}")
    print(json.dumps({k: round(v) for k, v in result.items()}))


if __name__ == "__main__":
    main()
