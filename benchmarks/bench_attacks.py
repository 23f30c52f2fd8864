"""PGD speed on cnn4 (a benchmark, not a test): image-iterations/s at batch 500,
float32, without and with the CDF 9/7 front end (rho = 3%, exact gradient), and the
front end's overhead. The last line is one JSON object.

    python benchmarks/bench_attacks.py [--iterations 10]
"""
import argparse
import json

import numpy as np

from timing import best_rate  # benchmarks/timing.py

from sparsenet import attacks
from sparsenet.frontend import Sparsifier
from sparsenet.models import Classifier, cnn4


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x, y = rng.random((500, 28, 28), dtype=np.float32), rng.integers(0, 10, 500)
    net = cnn4(seed=0)
    rates = {}
    for key, clf in (("pgd_img_iter_per_s", Classifier(net)),
                     ("pgd_frontend_img_iter_per_s", Classifier(net, Sparsifier()))):
        run = lambda: attacks.pgd(clf, x, y, 0.25, 0.0125, args.iterations, rng=0)  # noqa: E731
        rates[key] = best_rate(run, len(x) * args.iterations, repeats=3)
    rates["frontend_overhead"] = rates["pgd_img_iter_per_s"] / rates["pgd_frontend_img_iter_per_s"] - 1
    print(f"PGD without front end: {rates['pgd_img_iter_per_s']:8,.0f} image-iterations/s")
    print(f"PGD with front end:    {rates['pgd_frontend_img_iter_per_s']:8,.0f} image-iterations/s "
          f"(front end adds {100 * rates['frontend_overhead']:.1f}%)")
    print(json.dumps({k: round(v, 3) for k, v in rates.items()}))


if __name__ == "__main__":
    main()
