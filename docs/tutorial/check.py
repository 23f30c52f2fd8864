"""Check an exercise of the tutorial against the library, on random inputs.

    python docs/tutorial/check.py <exercise> <your_file.py>
    python docs/tutorial/check.py --list

Your file defines the function the exercise asks for (see docs/tutorial/exercises/). The
checker calls it on several random inputs, compares the result with what ``sparsenet``
computes, and says what is wrong: which input, the expected and the received values, and,
for the usual mistakes, a hint ("wrong sign", "shape (B, N) expected", ...). Exit status 0 when
every input passes, 1 when one fails, 2 when the file or the exercise cannot be loaded.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from sparsenet import attacks, frontend, linear_model, models, theory  # noqa: E402
from sparsenet.layers import Dense, Flatten, ReLU  # noqa: E402


class Mismatch(Exception):
    """The student's function disagrees with the library (the message says how)."""


def _show(a, start=0, n=5):
    a = np.asarray(a, dtype=np.float64).ravel()
    part = a[start:start + n]
    return (("[..., " if start else "[") + ", ".join(f"{v:.4g}" for v in part)
            + (", ...]" if start + n < a.size else "]"))


def _array(got, shape, what):
    """``got`` as a float array of ``shape``, or a Mismatch saying what came back."""
    if got is None:
        raise Mismatch(f"{what}: your function returned None (a missing `return`?)")
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise Mismatch(f"{what}: expected an array of shape {shape}, got {type(got).__name__}") from None
    if got.shape != tuple(shape):
        raise Mismatch(f"{what}: shape {tuple(shape)} expected, got {got.shape}")
    if not np.isfinite(got).all():
        raise Mismatch(f"{what}: contains NaN or infinite values")
    return got


def _compare(got, expected, what, case, atol=1e-6, rtol=1e-6, hints=()):
    """Raise Mismatch unless got ~ expected; ``hints`` are (name, wrong_value, message):
    when got matches a known wrong answer, its message is the diagnosis."""
    got = _array(got, expected.shape, what)
    if np.allclose(got, expected, atol=atol, rtol=rtol):
        return
    for wrong, message in hints:
        if wrong is not None and np.shape(wrong) == got.shape and np.allclose(got, wrong, atol=atol, rtol=rtol):
            diagnosis = message
            break
    else:
        diagnosis = "values differ"
    bad = np.argwhere(~np.isclose(got, expected, atol=atol, rtol=rtol))
    where = tuple(int(i) for i in bad[0])
    flat = int(np.ravel_multi_index(where, got.shape)) if got.ndim else 0
    raise Mismatch(f"{what} on input {case}: {diagnosis}\n"
                   f"    first difference at index {where}: expected {expected[where]:.6g}, got {got[where]:.6g}"
                   f" ({len(bad)} of {got.size} entries differ)\n"
                   f"    from there, expected {_show(expected, flat)}\n"
                   f"                got      {_show(got, flat)}")


# -- the exercises -------------------------------------------------------------------------
def _linear_net(w, b):
    net = models.Sequential([Flatten(), Dense(784, 1)], dtype=np.float64, arch="linear")
    net.weighted[0].params["W"][:] = w[:, None]
    net.weighted[0].params["b"][:] = b
    return net


def check_fgsm_linear(fn, rng):
    """Chapter 1: fgsm_linear(x, w, b, y, eps) -> x_adv (B, N)."""
    for case in range(4):
        B, eps = int(rng.integers(3, 9)), float(rng.choice([0.05, 0.1, 0.25]))
        x = rng.uniform(0, 1, (B, 784)) ** 3          # many dark pixels: clipping matters
        w, b = rng.standard_normal(784), float(rng.standard_normal())
        y = rng.integers(0, 2, B)
        y[:2] = [0, 1]
        desc = f"#{case} (B={B}, N=784, eps={eps}, labels {y.tolist()})"
        expected = attacks.fgsm(models.Classifier(_linear_net(w, b)), x.reshape(B, 28, 28), y, eps).reshape(B, 784)
        got = fn(x.copy(), w.copy(), b, y.copy(), eps)
        toward = np.where(y == 1, -1.0, 1.0)[:, None]
        _compare(got, expected, "fgsm_linear(x, w, b, y, eps)", desc, hints=[
            (np.clip(x + eps * np.sign(w), 0, 1), "wrong sign for the examples of label 1: FGSM pushes a 7 "
             "(label 1) DOWN, x - eps sgn(w), and a 3 (label 0) up"),
            (np.clip(x - toward * eps * np.sign(w), 0, 1), "wrong sign: you push every example towards its own "
             "class; FGSM increases the loss, i.e. pushes towards the OTHER class"),
            (x + toward * eps * np.sign(w), "not clipped: images must stay in [0, 1] (np.clip)"),
            (x + eps * np.sign(w), "wrong sign for label 1, and not clipped to [0, 1]"),
        ])


def check_top_k(fn, rng):
    """Chapter 2: sparsify(x, A, S, K) -> H_K(x) (B, N)."""
    for case, (basis, K) in enumerate([("haar", 23), ("cdf97", 23), ("dct", 40), ("cdf97", 100)]):
        B = int(rng.integers(2, 6))
        x = np.clip(rng.uniform(-0.5, 1.2, (B, 28, 28)), 0, 1)
        A, S = frontend.operators(basis, 1, (28, 28))
        front = frontend.Sparsifier(basis, rho=K / 784)
        expected = front(x).reshape(B, 784)
        got = fn(x.reshape(B, 784).copy(), A, S, K)
        c = x.reshape(B, 784) @ A.T

        def keep(order_by, k=K):
            idx = np.argsort(-order_by, axis=1)[:, :k]
            mask = np.zeros_like(c)
            np.put_along_axis(mask, idx, 1, axis=1)
            return (c * mask) @ S.T

        _compare(got, expected, "sparsify(x, A, S, K)", f"#{case} (basis {basis}, B={B}, K={K})", hints=[
            (np.clip(keep(c), 0, 1), "you kept the K LARGEST coefficients; keep the K largest in MAGNITUDE (|c|): "
             "a large negative coefficient matters as much as a large positive one"),
            (keep(np.abs(c)), "not clipped: H_K(x) is clipped to [0, 1]"),
            (np.clip(keep(np.abs(c), K + 1), 0, 1), "you kept K + 1 coefficients"),
            (np.clip(keep(np.abs(c), K - 1), 0, 1), "you kept K - 1 coefficients"),
            (np.clip((c * (np.argsort(np.argsort(-np.abs(c), axis=1), axis=1) < K)) @ A, 0, 1),
             "you reconstructed with A^T; the synthesis operator is S (CDF 9/7 is not orthonormal: S != A^T)"),
        ])


def _fc2(rng, hidden):
    net = models.fc2(seed=int(rng.integers(1000)), hidden=hidden, dtype=np.float64)
    net.weighted[0].params["b"][:] = rng.standard_normal(hidden) * 0.5
    net.weighted[1].params["b"][:] = rng.standard_normal(1)
    return net


def check_w_eq_fc2(fn, rng):
    """Chapter 3: w_eq_fc2(W1, b1, W0, b0, x) -> (w_eq (B, N), b_eq (B,))."""
    for case in range(4):
        B, M = int(rng.integers(2, 7)), int(rng.choice([5, 10, 20]))
        net = _fc2(rng, M)
        x = rng.uniform(0, 1, (B, 784))
        W, b = linear_model.fc2_equivalent_linear(net, x.reshape(B, 28, 28))
        (W1, b1), (W0, b0) = ((l.params["W"].copy(), l.params["b"].copy()) for l in net.weighted)
        got = fn(W1, b1, W0, b0, x.copy())
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Mismatch("w_eq_fc2 must return a pair (w_eq, b_eq)")
        desc = f"#{case} (B={B}, N=784, M={M} hidden units)"
        all_on = np.tile((W0[:, 0] * W1).sum(axis=1), (B, 1))
        _compare(got[0], W[:, 0], "w_eq", desc, hints=[
            (all_on, "w_eq ignores the switches: only the units with s_i(x) = 1 (w_i^T x + b1_i > 0) contribute"),
            (-W[:, 0], "wrong sign"),
        ])
        pre = x @ W1 + b1
        _compare(got[1], b[:, 0], "b_eq", desc, hints=[
            (-b[:, 0], "wrong sign: y = w_eq^T x - b_eq, so b_eq = -(sum_i s_i W0_i b1_i) - b0"),
            (-((pre > 0) * W0[:, 0]) @ b1, "the output bias b0 is missing from b_eq"),
        ])


def check_pair_candidates(fn, rng):
    """Chapter 4: pair_candidates(W_eq, t, x, eps) -> (B, L, N) candidates."""
    for case in range(4):
        B, L, eps = int(rng.integers(2, 6)), int(rng.choice([3, 10])), float(rng.choice([0.1, 0.25]))
        W = rng.standard_normal((B, L, 784))
        b = rng.standard_normal((B, L))
        t = rng.integers(0, L, B)
        x = rng.uniform(0, 1, (B, 784)) ** 2
        D, _ = linear_model.pair_difference(W, b, t)
        expected = np.clip(x[:, None] + eps * np.sign(D), 0, 1)
        got = fn(W.copy(), t.copy(), x.copy(), eps)
        _compare(got, expected, "pair_candidates(W_eq, t, x, eps)", f"#{case} (B={B}, L={L}, eps={eps}, t={t.tolist()})",
                 hints=[(np.clip(x[:, None] - eps * np.sign(D), 0, 1), "wrong sign: candidate i raises y_i - y_t, "
                         "so it moves along sgn(w_eq^i - w_eq^t)"),
                        (x[:, None] + eps * np.sign(D), "not clipped to [0, 1]"),
                        (np.clip(x[:, None] + eps * np.sign(W), 0, 1), "you used sgn(w_eq^i); the pair attack "
                         "uses the DIFFERENCE w_eq^i - w_eq^t")])


class _Lookup:
    """A stand-in classifier: predicts the label stored for each image (by its first pixel)."""

    def __init__(self, table):
        self.table, self.n_logits = table, 10

    def predict(self, x, batch_size=None):
        return np.array([self.table[float(v)] for v in np.asarray(x)[:, 0, 0]])


def check_robust_and_success(fn, rng):
    """Chapter 5: robust_and_success(y, clean_pred, adv_pred) -> (robust accuracy, success rate)."""
    for case in range(5):
        n = int(rng.integers(8, 30))
        y = rng.integers(0, 10, n)
        clean_pred = np.where(rng.random(n) < 0.8, y, (y + 1) % 10)
        adv_pred = np.where(rng.random(n) < 0.5, clean_pred, (clean_pred + 3) % 10)
        x = np.zeros((n, 28, 28))
        x[:, 0, 0] = np.arange(n) / (2 * n)
        x_adv = x.copy()
        x_adv[:, 0, 0] += 0.5
        table = {float(v): int(p) for v, p in zip(x[:, 0, 0], clean_pred)}
        table.update({float(v): int(p) for v, p in zip(x_adv[:, 0, 0], adv_pred)})
        result = attacks.evaluate(_Lookup(table), x, y, x_adv)
        expected = np.array([result["robust_accuracy"], result["success_rate"]])
        got = fn(y.copy(), clean_pred.copy(), adv_pred.copy())
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Mismatch("robust_and_success must return a pair (robust_accuracy, success_rate)")
        fooled = adv_pred != y
        _compare(np.array(got, dtype=float), expected, "(robust_accuracy, success_rate)",
                 f"#{case} (n={n}, {int((clean_pred == y).sum())} classified correctly when clean)", hints=[
                     (np.array([expected[0], fooled.mean()]), "the success rate counts only the examples classified "
                      "correctly when clean: its denominator is their number, not n"),
                     (np.array([np.mean(adv_pred[clean_pred == y] == y[clean_pred == y]), expected[1]]),
                      "robust accuracy is over ALL n examples (a misclassified clean example is not robust)"),
                     (np.array([expected[0], np.mean(adv_pred[clean_pred == y] != clean_pred[clean_pred == y])]),
                      "a success is a wrong prediction (adv_pred != y), among the examples correct when clean"),
                 ])


def check_dlr_loss(fn, rng):
    """Chapter 6: dlr_loss(logits, y) -> (B,) losses."""
    for case in range(5):
        B, L = int(rng.integers(3, 9)), int(rng.choice([3, 5, 10]))
        z = rng.standard_normal((B, L)) * 3
        y = rng.integers(0, L, B)
        expected = attacks.dlr_loss(z, y)[0]
        got = fn(z.copy(), y.copy())
        zs = -np.sort(-z, axis=1)
        other = z.copy()
        other[np.arange(B), y] = -np.inf
        gap = z[np.arange(B), y] - other.max(axis=1)
        _compare(got, expected, "dlr_loss(logits, y)", f"#{case} (B={B}, L={L}, labels {y.tolist()})", hints=[
            (gap / (zs[:, 0] - zs[:, 2]), "wrong sign: DLR = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), "
             "negative while the example is classified correctly"),
            (-gap / (zs[:, 0] - zs[:, 1]), "wrong scale: divide by z_pi1 - z_pi3 (the largest minus the THIRD "
             "largest logit), not the second"),
            (-gap, "the scale is missing: divide by z_pi1 - z_pi3, which makes the loss invariant to scaling the logits"),
            (-(z[np.arange(B), y] - zs[:, 0]) / (zs[:, 0] - zs[:, 2]), "the max must run over the OTHER classes "
             "(i != y): when y has the largest logit, compare with the second largest"),
        ])


def check_theorem2_bounds(fn, rng):
    """Chapter 7: theorem2_bounds(weights, eps) -> (J,) per-layer bounds."""
    for case in range(4):
        sizes = [784] + [int(s) for s in rng.integers(5, 40, int(rng.integers(1, 4)))] + [int(rng.choice([1, 10]))]
        eps = float(rng.choice([0.01, 0.1, 0.25]))
        layers = [Flatten()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [Dense(n_in, n_out, rng=int(rng.integers(1000)), dtype=np.float64), ReLU()]
        net = models.Sequential(layers[:-1], dtype=np.float64)
        weights = [l.params["W"].copy() for l in net.weighted]
        expected = theory.layer_bounds(net, eps)
        got = fn(weights, eps)
        rows = np.array([np.abs(W).sum(axis=1).max() for W in weights])
        cols = np.array([np.abs(W).sum(axis=0).max() for W in weights])
        _compare(got, expected, "theorem2_bounds(weights, eps)", f"#{case} (layer sizes {sizes}, eps={eps})", hints=[
            (eps * np.cumprod(rows), "gamma_j = max_i ||w_ij||_1 over NEURONS: w_ij is the column W[:, i] "
             "(the weights feeding neuron i); you summed rows (axis=1), sum over axis=0"),
            (eps * np.cumsum(cols), "the bounds multiply: ||e_j|| <= eps * gamma_1 * ... * gamma_j (a product, not a sum)"),
            (eps * cols, "each bound is cumulative: eps times the PRODUCT of gamma_1 .. gamma_j"),
            (eps * np.cumprod([np.abs(W).sum() for W in weights]), "gamma_j is the max over neurons of each neuron's "
             "l1 norm, not the l1 norm of the whole matrix"),
        ])


EXERCISES = {
    "fgsm_linear": ("fgsm_linear", check_fgsm_linear, 1),
    "top_k": ("sparsify", check_top_k, 2),
    "w_eq_fc2": ("w_eq_fc2", check_w_eq_fc2, 3),
    "pair_candidates": ("pair_candidates", check_pair_candidates, 4),
    "robust_and_success": ("robust_and_success", check_robust_and_success, 5),
    "dlr_loss": ("dlr_loss", check_dlr_loss, 6),
    "theorem2_bounds": ("theorem2_bounds", check_theorem2_bounds, 7),
}


def load_function(path, name):
    spec = importlib.util.spec_from_file_location(f"student_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise AttributeError(f"{path} defines no function `{name}`")
    return fn


def check(exercise, path, seed=0):
    """(passed, message) for ``path``'s answer to ``exercise``."""
    name, checker, chapter = EXERCISES[exercise]
    fn = load_function(path, name)
    try:
        checker(fn, np.random.default_rng(seed))
    except Mismatch as e:
        return False, f"FAIL {exercise} (chapter {chapter}): {e}"
    except NotImplementedError:
        return False, f"FAIL {exercise} (chapter {chapter}): `{name}` is not implemented yet"
    except Exception:
        return False, (f"FAIL {exercise} (chapter {chapter}): `{name}` raised an exception:\n"
                       + traceback.format_exc(limit=-3))
    return True, f"PASS {exercise} (chapter {chapter}): `{name}` agrees with sparsenet on every random input"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exercise", nargs="?", help="exercise name (see --list)")
    ap.add_argument("file", nargs="?", help="your Python file")
    ap.add_argument("--list", action="store_true", help="list the exercises")
    args = ap.parse_args(argv)
    if args.list or not args.exercise:
        for key, (name, checker, chapter) in EXERCISES.items():
            print(f"{key:20s} chapter {chapter}: {checker.__doc__.split(': ', 1)[1]}")
        return 0 if args.list else 2
    if args.exercise not in EXERCISES:
        print(f"error: unknown exercise {args.exercise!r}; choose from {', '.join(EXERCISES)}", file=sys.stderr)
        return 2
    if not args.file or not Path(args.file).is_file():
        print(f"error: no such file: {args.file}", file=sys.stderr)
        return 2
    try:
        ok, message = check(args.exercise, args.file)
    except Exception as e:      # the file does not import, or lacks the function
        print(f"error: cannot load {args.file}: {e}", file=sys.stderr)
        return 2
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
