"""A tour of the locally linear model of a ReLU network, in six steps (under a minute).

    python examples/locally_linear_tour.py            # writes figures/tour.png

It uses the binary MNIST 3-vs-7 network ``fc2`` of the paper (784 -> 10 ReLU -> 1 logit)
and the sparsifying front end (CDF 9/7, rho = 3%). Both are taken from ``run_all.py``'s
cache when it has them, and trained here (a few seconds each) when it does not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparsenet import attacks, files  # noqa: E402
from sparsenet.data import DataError  # noqa: E402
from sparsenet.experiments import Context  # noqa: E402
from sparsenet.linear_model import fc2_equivalent_linear, switch_flips  # noqa: E402
from sparsenet.models import Classifier  # noqa: E402
from sparsenet.reproduction import Settings  # noqa: E402


def say(step, text):
    print(f"\n[{step}] {text}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="folder holding mnist/ (default: $SPARSENET_DATA, then data/)")
    ap.add_argument("--out", default=str(ROOT / "figures" / "tour.png"))
    ap.add_argument("--cache", default=str(ROOT / "cache"), help="run_all.py's model cache")
    args = ap.parse_args(argv)

    def log(msg):   # training lines only, not one per epoch
        if not msg.lstrip().startswith("epoch"):
            print("   ", msg)

    ctx = Context(cache_dir=args.cache, data_dir=args.data_dir, log=log)
    s = Settings()
    plain_spec, front_spec = s.fc2("mnist"), s.fc2("mnist", "frontend")
    say(1, "Load (or train) fc2 on MNIST 3 vs 7, without and with the front end (Section 5.1).")
    net, front_net = ctx.model(plain_spec), ctx.model(front_spec)
    x, y = ctx.test_set(plain_spec)
    x, y = x[:6].astype(np.float64), y[:6]
    net64 = net.astype(np.float64)

    say(2, "Section 3.2: with the ReLU switches s(x) frozen, the network is linear, "
           "y = w_eq(x)^T x - b_eq(x), with w_eq = sum_i s_i(x) w0_i w_i (Figure 3).")
    W_eq, b_eq = fc2_equivalent_linear(net64, x)
    y_net = net64.forward(x)[:, 0]
    y_lin = np.einsum("bn,bn->b", W_eq[:, 0], x.reshape(len(x), -1)) - b_eq[:, 0]
    print(f"    max |y - (w_eq^T x - b_eq)| over {len(x)} digits: {np.abs(y_net - y_lin).max():.2e}  "
          f"(float64 rounding: the identity is exact)")
    print(f"    active hidden units per digit: {net64.relus[0].switch.sum(axis=1).tolist()} of 10")

    say(3, "Section 2: the front end keeps the K = 3% largest CDF 9/7 coefficients of x and "
           "reconstructs; the network is trained on, and only ever sees, H_K(x).")
    front = front_spec.frontend()
    kept = front(x)
    print(f"    K = {front.K} of N = {front.N} coefficients; relative l2 error of H_K(x): "
          f"{np.mean(np.linalg.norm((kept - x).reshape(6, -1), axis=1) / np.linalg.norm(x.reshape(6, -1), axis=1)):.3f}")

    say(4, "Section 3.1/3.5: the semi-white box attack puts the whole budget along sgn(w_eq): "
           "e = eps sgn(w_eq(x)), eps = 0.25 (the direction that raises y - y_t the most for a "
           "linear model).")
    eps = 0.25
    plain, defended = Classifier(net64), Classifier(front_net.astype(np.float64), front)
    adv = attacks.locally_linear(plain, x, y, eps)
    adv_front = attacks.locally_linear(defended, x, y, eps)
    e, e_seen = adv_front - x, front(adv_front) - front(x)
    print(f"    accuracy on these digits, no defense: {np.mean(plain.predict(adv) == y):.0%};  "
          f"with front end: {np.mean(defended.predict(adv_front) == y):.0%}")
    overlap = (front.support(x) & front.support(adv_front)).sum(axis=1) / front.K
    passed = np.linalg.norm(e_seen.reshape(6, -1), axis=1) / np.linalg.norm(e.reshape(6, -1), axis=1)
    ideal = np.linalg.norm(front.project(e, x).reshape(6, -1), axis=1) / np.linalg.norm(e.reshape(6, -1), axis=1)
    print(f"    high SNR, the front end would pass on only P_K e, the part of e in x's K-dimensional "
          f"subspace: {ideal.mean():.0%} of its l2 norm (Section 3.1).")
    print(f"    At eps = 0.25 the attack moves the support (only {overlap.mean():.0%} of x's K coefficients "
          f"survive), so {passed.mean():.0%} gets through: a large eps leaves the high-SNR regime.")
    say(5, "Section 3.4: the attack changes y through w_eq^T e only if few switches flip (high SNR). "
           "Count the hidden units whose switch flips.")
    for name, model, seen, seen_adv in (("no defense", plain.net, x, adv),
                                        ("front end", defended.net, front(x), front(adv_front))):
        flips = switch_flips(model, seen, seen_adv)[0]
        print(f"    {name}: {flips.flipped.tolist()} of {flips.size} switches flip per digit")

    say(6, f"Writing the pictures to {args.out}: x, w_eq(x), H_K(x), the attack e and what the "
           "network sees of it, H_K(x + e) - H_K(x).")
    panels = [("x", x, "gray"), ("w_eq(x)", W_eq[:, 0].reshape(x.shape), "RdBu_r"),
              ("H_K(x)", kept, "gray"), ("e = x_adv - x (front end)", e, "RdBu_r"),
              ("H_K(x+e) - H_K(x)", e_seen, "RdBu_r")]
    fig, axes = plt.subplots(len(panels), len(x), figsize=(1.6 * len(x), 1.7 * len(panels)))
    for row, (title, imgs, cmap) in enumerate(panels):
        lim = np.abs(imgs).max()
        for col in range(len(x)):
            ax = axes[row, col]
            kw = dict(vmin=0, vmax=1) if cmap == "gray" else dict(vmin=-lim, vmax=lim)
            ax.imshow(imgs[col], cmap=cmap, **kw)
            ax.set_xticks([]), ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title, fontsize=8)
    fig.suptitle("The locally linear model of fc2 (MNIST 3 vs 7) and the sparsifying front end")
    fig.tight_layout()
    files.save_figure(fig, args.out, dpi=110)
    print("    done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DataError as e:   # missing or corrupt datasets: the loader's message, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
