"""How far the BLAS kernel moves the reproduction's numbers: cnn4 retrained on this machine.

    python benchmarks/cross_kernel.py --out /tmp/k-default
    OPENBLAS_CORETYPE=Haswell python benchmarks/cross_kernel.py --out /tmp/k-haswell

Trains cnn4 with and without the front end (training seed 0, the reproduction's settings,
on both cores as ``run_all.py`` does), then measures, on the first ``--n`` test images, the
front-end network's PGD (the paper's attack, final iterate) and its per-example worst case
over the adaptive suite. Prints which OpenBLAS kernel ran, a table, and one JSON line, also
written to ``<out>/cross_kernel.json``. OpenBLAS reads ``OPENBLAS_CORETYPE`` when it loads,
so set it for the whole command. Each kernel needs its own ``--out``: the cache's keys are
the settings, not the machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparsenet import files  # noqa: E402
from sparsenet.repro import environment  # noqa: E402
from sparsenet.repro.runner import Runner  # noqa: E402
from sparsenet.repro.settings import EPS, SUITES, Settings  # noqa: E402
from sparsenet.repro.specs import AttackSpec  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="a folder of its own for this kernel (cache and result)")
    ap.add_argument("--n", type=int, default=1000, help="test images for PGD and the worst case")
    ap.add_argument("--data-dir", help="folder holding mnist/ (default: $SPARSENET_DATA, then data/)")
    args = ap.parse_args(argv)
    env = environment.describe()
    print(f"OpenBLAS kernel: {env['blas_kernel']} ({env['blas']}; {env['blas_variables'] or 'no BLAS variables set'})")
    out = Path(args.out)
    runner = Runner(out / "cache", args.data_dir)
    s = Settings()
    t0 = time.perf_counter()
    nets = {"none": s.cnn4(), "frontend": s.cnn4("frontend")}
    row = {f"clean/{k}": 100 * runner.model_info(m)["test_accuracy"] for k, m in nets.items()}
    row["final_loss/none"] = runner.model_info(nets["none"])["history"]["loss"][-1]
    front = nets["frontend"]
    pgd = AttackSpec(front, "pgd", EPS, delta=EPS / 20, iterations=s.iterations, n_test=args.n, seed=s.seed,
                     stop_on_success=False)
    a = s.adaptive
    worst = AttackSpec(front, "worst_case", EPS, n_test=args.n, iterations=a["iterations"], seed=s.seed,
                       params=(("suite", SUITES["cnn4/frontend"]), ("n_targets", a["n_targets"]),
                               ("queries", a["queries"])))
    row["pgd/frontend"] = 100 * runner.attack(pgd)["robust_accuracy"]
    row["worst_case/frontend"] = 100 * runner.attack(worst)["robust_accuracy"]
    print(f"\n| kernel | cnn4 clean | front end clean | front end PGD ({args.n}) | worst case ({args.n}) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| {env['blas_kernel']} | {row['clean/none']:.2f} | {row['clean/frontend']:.2f} | "
          f"{row['pgd/frontend']:.2f} | {row['worst_case/frontend']:.2f} |")
    record = {"environment": env, "n": args.n, "minutes": (time.perf_counter() - t0) / 60, **row}
    files.write_json(out / "cross_kernel.json", record)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
