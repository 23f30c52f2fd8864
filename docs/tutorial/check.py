"""Check an exercise of the tutorial, on inputs it draws itself.

    python docs/tutorial/check.py <exercise> <your_file.py>
    python docs/tutorial/check.py --list

Your file defines what the exercise asks for (see docs/tutorial/exercises/): a function,
and for the predict-then-measure exercises a ``PREDICTION`` too. The checker calls your
function on several inputs, compares the result with what ``sparsenet`` (or, where the
exercise defines a rule of its own, the checker's reference) computes, and says what is
wrong: which input, the expected and the received values, and, for the usual mistakes, a
hint ("wrong sign", "clipped at one side only", "a layer off by one", ...). A measurement
passes within the tolerance the exercise states. Exit status 0 when every input passes, 1
when one fails, 2 when the file or the exercise cannot be loaded.

``halving_eps`` trains the chapter's networks, so it needs the MNIST data (see the tutorial's
README); every other checker runs without data.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from sparsenet import attacks, frontend, linear_model, models, theory  # noqa: E402
from sparsenet.layers import Dense, Flatten, ReLU  # noqa: E402


class Mismatch(Exception):
    """The student's answer disagrees with the expected one (the message says how)."""


class NotYet(NotImplementedError):
    """Part of the exercise is still blank (the message says which)."""


class CannotCheck(Exception):
    """The checker itself cannot run (missing data): not the student's mistake."""


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
    """Raise Mismatch unless got ~ expected; ``hints`` are (wrong_value, message): when got
    matches a known wrong answer, its message is the diagnosis."""
    expected = np.asarray(expected, dtype=np.float64)
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


def _number(got, what):
    """``got`` as a finite float, or a Mismatch."""
    if got is None:
        raise Mismatch(f"{what}: your function returned None (a missing `return`?)")
    try:
        value = float(np.asarray(got, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise Mismatch(f"{what}: expected one number, got {type(got).__name__} {np.shape(got)}") from None
    if not math.isfinite(value):
        raise Mismatch(f"{what}: got {value}, not a finite number")
    return value


def _close(got, expected, tol, what, case, hints=()):
    """A measured number within ``tol`` of ``expected``; ``hints`` are (wrong_value, message),
    chosen when ``got`` is within ``tol`` of the wrong value and farther from the expected one."""
    got = _number(got, what)
    if abs(got - expected) <= tol:
        return
    diagnosis = "off by more than the tolerance"
    for wrong, message in hints:
        if abs(got - wrong) <= tol and abs(got - wrong) < abs(got - expected):
            diagnosis = message
            break
    raise Mismatch(f"{what} on input {case}: {diagnosis}\n"
                   f"    expected {expected:.4g} (within {tol:g}), got {got:.4g}")


def _prediction(module, name="PREDICTION"):
    value = getattr(module, name, None)
    if value is None:
        raise NotYet(f"{name} is not set yet: write your prediction first, then measure")
    return _number(value, name)


# -- chapter 1 -------------------------------------------------------------------------------
def _linear_net(w, b):
    net = models.Sequential([Flatten(), Dense(784, 1)], dtype=np.float64, arch="linear")
    net.weighted[0].params["W"][:] = w[:, None]
    net.weighted[0].params["b"][:] = b
    return net


def check_fgsm_linear(fn, rng, module):
    """Chapter 1: fgsm_linear(x, w, b, y, eps) -> x_adv (B, N)."""
    for case in range(5):
        B, eps = int(rng.integers(3, 9)), float(rng.choice([0.05, 0.1, 0.25]))
        x = rng.uniform(0, 1, (B, 784)) ** 3          # many dark pixels: clipping matters
        w, b = rng.standard_normal(784), float(rng.standard_normal())
        sparse = case >= 3
        if sparse:                                   # most weights exactly 0, as in a sparse network
            w[rng.random(784) < 0.7] = 0.0
        y = rng.integers(0, 2, B)
        y[:2] = [0, 1]
        desc = f"#{case} (B={B}, N=784, eps={eps}, labels {y.tolist()}" + \
               (f", {int(np.sum(w == 0))} weights exactly 0)" if sparse else ")")
        expected = attacks.fgsm(models.Classifier(_linear_net(w, b)), x.reshape(B, 28, 28), y, eps,
                                log=None).reshape(B, 784)
        got = fn(x.copy(), w.copy(), b, y.copy(), eps)
        toward = np.where(y == 1, -1.0, 1.0)[:, None]
        push = toward * eps * np.sign(w)
        _compare(got, expected, "fgsm_linear(x, w, b, y, eps)", desc, hints=[
            (np.clip(x + eps * np.sign(w), 0, 1), "wrong sign for the examples of label 1: FGSM pushes a 7 "
             "(label 1) DOWN, x - eps sgn(w), and a 3 (label 0) up"),
            (np.clip(x - push, 0, 1), "wrong sign: you push every example towards its own "
             "class; FGSM increases the loss, i.e. pushes towards the OTHER class"),
            (x + push, "not clipped: images must stay in [0, 1] (np.clip)"),
            (np.minimum(x + push, 1), "clipped at 1 only: a pixel pushed below 0 must be clipped to 0 as well "
             "(np.clip(..., 0, 1))"),
            (np.maximum(x + push, 0), "clipped at 0 only: a pixel pushed above 1 must be clipped to 1 as well "
             "(np.clip(..., 0, 1))"),
            (np.clip(x + toward * eps * np.where(w >= 0, 1.0, -1.0), 0, 1),
             "you moved pixels whose weight is exactly 0: there the gradient is 0 and sgn(0) = 0, so FGSM leaves "
             "them alone (np.sign, not np.where(w >= 0, 1, -1))"),
            (np.clip(x + toward * eps * np.where(w > 0, 1.0, -1.0), 0, 1),
             "you moved pixels whose weight is exactly 0: there the gradient is 0 and sgn(0) = 0, so FGSM leaves "
             "them alone (np.sign, not np.where(w > 0, 1, -1))"),
        ])


# -- chapter 2 -------------------------------------------------------------------------------
def top_k_reference(c, K):
    """The 0/1 mask of H_K's support for coefficient rows c (B, N): the K largest |c|, and
    among equal magnitudes the lower index first (the first K of a stable sort by -|c|)."""
    keep = np.argsort(-np.abs(c), axis=1, kind="stable")[:, :K]
    mask = np.zeros(c.shape)
    np.put_along_axis(mask, keep, 1.0, axis=1)
    return mask


def tie_at_k(c, K):
    """Does some row of coefficient rows c (B, N) have several equal |c| straddling the K-th
    place (a tie the support M_x must break by index, lower first)?"""
    a = -np.sort(-np.abs(c), axis=1)
    t = a[:, K - 1:K]
    return bool(np.any((np.abs(c) == t).sum(axis=1) > K - (np.abs(c) > t).sum(axis=1)))


def check_top_k(fn, rng, module):
    """Chapter 2: sparsify(x, A, S, K) -> H_K(x) (B, N)."""
    cases = [("haar", 23), ("cdf97", 23), ("dct", 40), ("cdf97", 100), ("pixel", 23), ("pixel", 60)]
    for case, (basis, K) in enumerate(cases):
        B = int(rng.integers(2, 6))
        if basis == "pixel":
            # the pixel basis (A = S = I) and an image of 9 grey levels: many coefficients of
            # equal magnitude, and a tie at the K-th place in every image
            A = S = np.eye(784)
            x = rng.integers(0, 9, (B, 784)) / 8.0
            desc = f"#{case} (pixel basis A = S = I, B={B}, K={K}, 9 grey levels: ties at the K-th magnitude)"
        else:
            A, S = frontend.operators(basis, 1, (28, 28))
            x = np.clip(rng.uniform(-0.5, 1.2, (B, 784)), 0, 1)
            desc = f"#{case} (basis {basis}, B={B}, K={K})"
        c = x @ A.T
        assert basis != "pixel" or tie_at_k(c, K)
        expected = np.clip((c * top_k_reference(c, K)) @ S.T, 0, 1)
        got = fn(x.copy(), A, S, K)

        def keep(order_by, k=K):
            idx = np.argsort(-order_by, axis=1, kind="stable")[:, :k]
            mask = np.zeros_like(c)
            np.put_along_axis(mask, idx, 1, axis=1)
            return (c * mask) @ S.T

        a = np.abs(c)
        threshold = -np.sort(-a, axis=1)[:, K - 1:K]
        high_first = np.zeros_like(c)
        np.put_along_axis(high_first, np.argsort(a, axis=1, kind="stable")[:, -K:], 1.0, axis=1)
        kept_all = int((a >= threshold).sum(axis=1).max())
        _compare(got, expected, "sparsify(x, A, S, K)", desc, hints=[
            (np.clip(keep(c), 0, 1), "you kept the K LARGEST coefficients; keep the K largest in MAGNITUDE (|c|): "
             "a large negative coefficient matters as much as a large positive one"),
            (keep(a), "not clipped: H_K(x) is clipped to [0, 1]"),
            (np.minimum(keep(a), 1), "clipped at 1 only: the reconstruction also goes below 0; clip to [0, 1]"),
            (np.maximum(keep(a), 0), "clipped at 0 only: the reconstruction also goes above 1; clip to [0, 1]"),
            (np.clip((c * (a >= threshold)) @ S.T, 0, 1),
             f"ties at the K-th magnitude: you kept every coefficient at least as large as the K-th "
             f"({kept_all} in one image, more than K = {K}); H_K keeps exactly K, and among equal magnitudes the "
             f"one with the lower index first (np.argsort(-np.abs(c), kind='stable')[:, :K])"),
            (np.clip((c * high_first) @ S.T, 0, 1),
             "ties at the K-th magnitude broken the wrong way: among equal magnitudes H_K keeps the LOWER index "
             "first (the first K of a stable sort by decreasing |c|); you kept the higher ones"),
            (np.clip(keep(a, K + 1), 0, 1), "you kept K + 1 coefficients"),
            (np.clip(keep(a, K - 1), 0, 1), "you kept K - 1 coefficients"),
            (np.clip((c * top_k_reference(c, K)) @ A, 0, 1),
             "you reconstructed with A^T; the synthesis operator is S (CDF 9/7 is not orthonormal: S != A^T)"),
        ])


def _smooth_images(rng, B):
    """B digit-like images in [0, 1]: a few bright strokes (smoothed random walks)."""
    from scipy.ndimage import gaussian_filter
    out = np.zeros((B, 28, 28))
    for img in out:
        for _ in range(int(rng.integers(2, 4))):
            r, c = rng.integers(6, 22, 2).astype(float)
            for _ in range(25):
                r, c = np.clip([r + rng.normal(0, 1.2), c + rng.normal(0, 1.2)], 3, 24)
                img[int(r), int(c)] = 1.0
    return np.clip(gaussian_filter(out, sigma=(0, 1.0, 1.0)) * 3.0, 0, 1)


ATTENUATION_RHO = 0.1


def check_attenuation(fn, rng, module):
    """Chapter 2: PREDICTION of Delta_SW / (eps ||w||_1) at K/N = 0.1, and measure(w, x, rho)."""
    K = int(np.floor(ATTENUATION_RHO * 784 + 1e-9))
    truth = K / 784
    prediction = _prediction(module)
    _close(prediction, truth, 0.01, "PREDICTION", f"#0 (a random Gaussian w, Haar, K = {K} of N = 784)", hints=[
        (np.sqrt(truth), "that is sqrt(K/N); for a random w the semi-white box distortion shrinks by K/N itself "
         "(Section 3.1)"),
        (784 / K, "that is N/K, the factor by which the distortion SHRINKS; the ratio Delta_SW / (eps ||w||_1) is "
         "its inverse"),
        (0.03, "that is the chapter's K/N = 3%; the exercise asks about K/N = 0.1"),
        (1 - truth, "that is 1 - K/N, the share the front end removes; the ratio is what it lets through"),
    ])
    A, _ = frontend.operators("haar", 1, (28, 28))
    A_cdf, _ = frontend.operators("cdf97", 1, (28, 28))
    x = _smooth_images(rng, 40)
    template = (x.mean(axis=0) - 0.2).reshape(784) + 0.01 * rng.standard_normal(784)   # a structured w
    cases = [("random Gaussian w, one per image", rng.standard_normal((40, 784)), 0.1),
             ("one structured w (a smooth template)", template, 0.1),
             ("one structured w (a smooth template)", template, 0.05)]
    for case, (what, w, rho) in enumerate(cases):
        W = np.tile(w, (len(x), 1)) if w.ndim == 1 else w
        support = frontend.Sparsifier("haar", rho=rho).support(x)
        sw, white = theory.linear_distortions(W, A, support)
        coefficient_support = top_k_reference(W @ A.T, support.sum(axis=1).max()) > 0
        sw_w = theory.linear_distortions(W, A, coefficient_support)[0]
        sw_cdf = theory.linear_distortions(W, A_cdf, frontend.Sparsifier("cdf97", rho=rho).support(x))[0]
        got = fn(w.copy(), x.copy(), rho)
        _close(got, float(sw.mean()), 0.005, "measure(w, x, rho)", f"#{case} ({what}, {len(x)} images, rho={rho})",
               hints=[
                   (float(white.mean()), "that is the WHITE box distortion ||P_K w||_1 / ||w||_1; the semi-white box "
                    "attack e = eps sgn(w) gives |sgn(w)^T P_K w| / ||w||_1"),
                   (float(sw_w.mean()), "the support is the IMAGE's: the K largest coefficients of each x "
                    "(Sparsifier.support(x)), not those of w"),
                   (float(sw_cdf.mean()), "the exercise's front end is Haar: P_K = A^T M A is a projection only for "
                    "an orthonormal basis, and CDF 9/7 is biorthogonal"),
               ])


# -- chapter 3 -------------------------------------------------------------------------------
def _fc2(rng, hidden):
    net = models.fc2(seed=int(rng.integers(1000)), hidden=hidden, dtype=np.float64)
    net.weighted[0].params["b"][:] = rng.standard_normal(hidden) * 0.5
    net.weighted[1].params["b"][:] = rng.standard_normal(1)
    return net


def check_w_eq_fc2(fn, rng, module):
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
        no_bias = (((x @ W1) > 0) * W0[:, 0]) @ W1.T
        _compare(got[0], W[:, 0], "w_eq", desc, hints=[
            (all_on, "w_eq ignores the switches: only the units with s_i(x) = 1 (w_i^T x + b1_i > 0) contribute"),
            (no_bias, "switches computed without the bias: s_i(x) = 1[w_i^T x + b1_i > 0], and the bias b1 decides "
             "which units are on"),
            (-W[:, 0], "wrong sign"),
        ])
        pre = x @ W1 + b1
        _compare(got[1], b[:, 0], "b_eq", desc, hints=[
            (-b[:, 0], "wrong sign: y = w_eq^T x - b_eq, so b_eq = -(sum_i s_i W0_i b1_i) - b0"),
            (-((pre > 0) * W0[:, 0]) @ b1, "the output bias b0 is missing from b_eq"),
        ])


HIGH_SNR_PREDICTION_AT = (784, 0.001)       # N, delta; no bias


def _high_snr_reference(N, delta, bias_ratio, M, trials, rng, l2=False):
    """The checker's Monte Carlo (``theory.high_snr_fraction`` with any bias ratio); with
    ``l2`` the classic mistake, delta ||w||_2 for delta ||w||_1."""
    shares = []
    for _ in range(trials):
        W = rng.standard_normal((M, N))
        x = rng.standard_normal(N)
        x /= np.linalg.norm(x)
        l1 = np.abs(W).sum(axis=1)
        b = bias_ratio * l1 * rng.choice([-1.0, 1.0], M)
        size = np.linalg.norm(W, axis=1) if l2 else l1
        shares.append(np.mean(np.abs(W @ x - b) > delta * size))
    return float(np.mean(shares))


def check_high_snr(fn, rng, module):
    """Chapter 3: PREDICTION of the no-bias share (N = 784, delta = 0.001), and high_snr_share(N, delta, bias_ratio, ...)."""
    from scipy.stats import norm
    N, delta = HIGH_SNR_PREDICTION_AT
    t = delta * np.sqrt(2 / np.pi) * N                 # delta E||w||_1 against w^T x ~ N(0, 1)
    prediction = _prediction(module)
    _close(prediction, float(2 * norm.sf(t)), 0.03, "PREDICTION", f"#0 (N={N}, delta={delta}, no bias)", hints=[
        (float(norm.sf(t)), "one tail only: |w^T x| > t happens on both sides, 2 Q(t)"),
        (1.0, "Theorem 1's conclusion needs Assumption 2 (biases that grow like N); without bias the guarantee "
         "fades as N grows"),
        (float(2 * norm.sf(delta * np.sqrt(N))), "the worst case of |w_i^T e| over the ball is delta ||w_i||_1 "
         "(Hoelder), about delta sqrt(2/pi) N, not delta ||w_i||_2"),
    ])
    settings = [(784, 0.001, 0.0), (400, 0.01, 0.0), (100, 0.01, 0.03), (784, 0.001, 0.002)]
    for case, (N, delta, bias_ratio) in enumerate(settings):
        expected = _high_snr_reference(N, delta, bias_ratio, 2000, 3, rng)
        got = _number(fn(N, delta, bias_ratio, M=1000, trials=4, rng=int(rng.integers(1 << 30))),
                      "high_snr_share(N, delta, bias_ratio, M=1000, trials=4)")
        if abs(got - expected) <= 0.04:
            continue
        wrong_l2 = _high_snr_reference(N, delta, bias_ratio, 2000, 3, rng, l2=True)      # only when needed
        _close(got, expected, 0.04, "high_snr_share(N, delta, bias_ratio, M=1000, trials=4)",
               f"#{case} (N={N}, delta={delta}, bias_ratio={bias_ratio}; a Monte Carlo, so within 0.04)", hints=[
                   (wrong_l2, "far too many units keep their switch: the condition must hold for EVERY e in the "
                    "ball, whose worst case is |w_i^T e| = delta ||w_i||_1 (Hoelder), not delta ||w_i||_2; and x must "
                    "have ||x||_2 = 1 (Assumption 1)"),
               ])


# -- chapter 4 -------------------------------------------------------------------------------
def check_pair_candidates(fn, rng, module):
    """Chapter 4: pair_candidates(W_eq, t, x, eps) -> (B, L, N) candidates."""
    for case in range(4):
        B, L, eps = int(rng.integers(2, 6)), int(rng.choice([3, 10])), float(rng.choice([0.1, 0.25]))
        W = rng.standard_normal((B, L, 784))
        b = rng.standard_normal((B, L))
        t = rng.integers(0, L, B)
        x = rng.uniform(0, 1, (B, 784)) ** 2
        D, _ = linear_model.pair_difference(W, b, t)
        step = eps * np.sign(D)
        expected = np.clip(x[:, None] + step, 0, 1)
        got = fn(W.copy(), t.copy(), x.copy(), eps)
        _compare(got, expected, "pair_candidates(W_eq, t, x, eps)", f"#{case} (B={B}, L={L}, eps={eps}, t={t.tolist()})",
                 hints=[(np.clip(x[:, None] - step, 0, 1), "wrong sign: candidate i raises y_i - y_t, "
                         "so it moves along sgn(w_eq^i - w_eq^t)"),
                        (x[:, None] + step, "not clipped to [0, 1]"),
                        (np.minimum(x[:, None] + step, 1), "clipped at 1 only: pixels pushed below 0 must be "
                         "clipped to 0 as well"),
                        (np.maximum(x[:, None] + step, 0), "clipped at 0 only: pixels pushed above 1 must be "
                         "clipped to 1 as well"),
                        (np.clip(x[:, None] + eps * np.sign(W), 0, 1), "you used sgn(w_eq^i); the pair attack "
                         "uses the DIFFERENCE w_eq^i - w_eq^t")])


# -- chapter 5 -------------------------------------------------------------------------------
def check_robust_and_success(fn, rng, module):
    """Chapter 5: robust_and_success(y, clean_pred, adv_pred) -> (robust accuracy, success rate)."""
    for case in range(6):
        n = int(rng.integers(8, 30))
        y = rng.integers(0, 10, n)
        if case == 5:                                 # nothing classified correctly when clean
            clean_pred = (y + 1) % 10
        else:
            clean_pred = np.where(rng.random(n) < 0.75, y, (y + 1) % 10)
        adv_pred = np.where(rng.random(n) < 0.5, clean_pred, (clean_pred + 3) % 10)
        repaired = (clean_pred != y) & (rng.random(n) < 0.5)
        adv_pred[repaired] = y[repaired]              # an attack can move a misclassified image back to its class
        clean, correct = clean_pred == y, adv_pred == y
        robust = clean & correct
        success = float(np.mean(~correct[clean])) if clean.any() else 0.0
        expected = np.array([robust.mean(), success])
        desc = (f"#{case} (n={n}, {int(clean.sum())} classified correctly when clean, {int(repaired.sum())} "
                f"misclassified when clean but correct under attack)")
        got = fn(y.copy(), clean_pred.copy(), adv_pred.copy())
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Mismatch("robust_and_success must return a pair (robust_accuracy, success_rate)")
        values = np.array([np.nan if v is None else float(v) for v in got], dtype=float)
        if np.isnan(values[1]) and not clean.any():
            raise Mismatch(f"(robust_accuracy, success_rate) on input {desc}: the success rate is NaN. No example "
                           f"is classified correctly when clean, so its denominator is 0 (np.mean of an empty "
                           f"array); return 0.0, as attacks.evaluate does: there is nothing to fool\n"
                           f"    expected success rate 0.0, got nan")
        fooled = adv_pred != y
        _compare(values, expected, "(robust_accuracy, success_rate)", desc, hints=[
            (np.array([expected[0], fooled.mean()]), "the success rate counts only the examples classified "
             "correctly when clean: its denominator is their number, not n"),
            (np.array([correct.mean(), expected[1]]), "that is the adversarial accuracy (correct under attack, "
             "whatever the clean prediction: what the paper's tables show); the robust accuracy counts an example "
             "only if it is correct clean AND under attack"),
            (np.array([np.mean(correct[clean]) if clean.any() else 0.0, expected[1]]),
             "robust accuracy is over ALL n examples (a misclassified clean example is not robust)"),
            (np.array([expected[0], np.mean(adv_pred[clean] != clean_pred[clean]) if clean.any() else 0.0]),
             "a success is a wrong prediction (adv_pred != y), among the examples correct when clean"),
        ])


HALVING_TOLERANCE = 0.01
HALVING_GRID = 0.0025


def _robust_curve(clf, x, y, epsilons):
    out = []
    for eps in epsilons:
        x_adv = attacks.locally_linear(clf, x, y, float(eps), log=None)
        out.append(attacks.evaluate(clf, x, y, x_adv, eps=float(eps))["robust_accuracy"])
    return np.array(out)


def halving_reference(clf, x, y, top=0.6, step=HALVING_GRID):
    """The smallest eps of a grid (0, step, 2 step, ..., top) at which the robust accuracy under
    the one-step locally linear attack is at most half the clean accuracy (None if none is)."""
    half = float(np.mean(clf.predict(x) == y)) / 2
    coarse = np.round(np.arange(0.0, top + 1e-9, 4 * step), 6)
    curve = _robust_curve(clf, x, y, coarse)
    below = np.flatnonzero(curve <= half)
    if not len(below):
        return None, half
    i = int(below[0])
    fine = np.round(np.arange(coarse[max(i - 1, 0)], coarse[i] + 1e-9, step), 6)
    fine_curve = _robust_curve(clf, x, y, fine)
    return float(fine[np.flatnonzero(fine_curve <= half)[0]]), half


_HALVING = {}          # the reference answers, computed once per process


def check_halving_eps(fn, rng, module):
    """Chapter 5: halving_eps(clf, x, y) -> the eps at which the robust accuracy halves."""
    sys.path.insert(0, str(HERE))
    import _common          # the chapter's seeded data and networks (needs the MNIST data)
    try:
        _, _, x, y = _common.binary_task("mnist", n_test=500)
    except Exception as e:
        raise CannotCheck(f"this checker trains chapter 5's networks and needs the MNIST data "
                          f"(set SPARSENET_DATA, see docs/tutorial/README.md): {e}") from None
    networks = {"the sparse network of chapter 5": _common.trained("fc2", l1=0.1, prune_rho=0.03),
                "the undefended fc2 of chapter 5": _common.trained("fc2")}
    for case, (what, net) in enumerate(networks.items()):
        clf = models.Classifier(net)
        got = _number(fn(clf, x.copy(), y.copy()), "halving_eps(clf, x, y)")
        if what not in _HALVING:
            _HALVING[what] = halving_reference(clf, x, y)
        expected, half = _HALVING[what]
        if abs(got - expected) <= HALVING_TOLERANCE:
            continue
        at = float(_robust_curve(clf, x, y, [min(max(got, 0.0), 1.0)])[0])
        if at > half:
            why = (f"at your eps = {got:.4g} the robust accuracy is still {at:.1%}, above half the clean accuracy "
                   f"({half:.1%}): the budget is too small")
        else:
            why = (f"at your eps = {got:.4g} the robust accuracy is {at:.1%}, at most half the clean accuracy "
                   f"({half:.1%}), but a smaller eps already gets there: you want the SMALLEST such eps")
        if abs(got / 0.05 - round(got / 0.05)) < 1e-6:
            why += ("; your answer is a multiple of 0.05: a grid that coarse cannot find eps to within "
                    f"{HALVING_TOLERANCE}; refine it (bisection)")
        raise Mismatch(f"halving_eps on input #{case} ({what}, {len(y)} test digits): {why}\n"
                       f"    expected {expected:.4g} (within {HALVING_TOLERANCE}), got {got:.4g}")


# -- chapter 6 -------------------------------------------------------------------------------
def check_dlr_loss(fn, rng, module):
    """Chapter 6: dlr_loss(logits, y) -> (B,) losses."""
    for case in range(5):
        B, L = int(rng.integers(3, 9)), int(rng.choice([3, 5, 10]))
        z = rng.standard_normal((B, L)) * 3
        y = rng.integers(0, L, B)
        expected = attacks.dlr_loss(z, y)[0]
        got = fn(z.copy(), y.copy())
        zs = -np.sort(-z, axis=1)
        rows = np.arange(B)
        other = z.copy()
        other[rows, y] = -np.inf
        gap = z[rows, y] - other.max(axis=1)
        others_mean = (z.sum(axis=1) - z[rows, y]) / (L - 1)
        _compare(got, expected, "dlr_loss(logits, y)", f"#{case} (B={B}, L={L}, labels {y.tolist()})", hints=[
            (gap / (zs[:, 0] - zs[:, 2]), "wrong sign: DLR = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), "
             "negative while the example is classified correctly"),
            (-gap / (zs[:, 0] - zs[:, 1]), "wrong scale: divide by z_pi1 - z_pi3 (the largest minus the THIRD "
             "largest logit), not the second"),
            (-gap, "the scale is missing: divide by z_pi1 - z_pi3, which makes the loss invariant to scaling the logits"),
            (-(z[rows, y] - zs[:, 0]) / (zs[:, 0] - zs[:, 2]), "the max must run over the OTHER classes "
             "(i != y): when y has the largest logit, compare with the second largest"),
            (-(z[rows, y] - others_mean) / (zs[:, 0] - zs[:, 2]), "mean instead of max: DLR compares z_y with the "
             "LARGEST other logit, max_{i != y} z_i, the class the attack must push above y"),
        ])


# -- chapter 7 -------------------------------------------------------------------------------
def check_theorem2_bounds(fn, rng, module):
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
        means = np.array([np.abs(W).sum(axis=0).mean() for W in weights])
        _compare(got, expected, "theorem2_bounds(weights, eps)", f"#{case} (layer sizes {sizes}, eps={eps})", hints=[
            (eps * np.cumprod(rows), "gamma_j = max_i ||w_ij||_1 over NEURONS: w_ij is the column W[:, i] "
             "(the weights feeding neuron i); you summed rows (axis=1), sum over axis=0"),
            (eps * np.cumsum(cols), "the bounds multiply: ||e_j|| <= eps * gamma_1 * ... * gamma_j (a product, not a sum)"),
            (eps * cols, "each bound is cumulative: eps times the PRODUCT of gamma_1 .. gamma_j"),
            (eps * np.cumprod([np.abs(W).sum() for W in weights]), "gamma_j is the max over neurons of each neuron's "
             "l1 norm, not the l1 norm of the whole matrix"),
            (eps * np.cumprod(means), "mean instead of max: gamma_j = MAX_i ||w_ij||_1, the worst neuron of the "
             "layer (the bound must hold for every neuron, Hoelder's inequality neuron by neuron)"),
            (eps * np.concatenate([[1.0], np.cumprod(cols)[:-1]]), "a layer off by one: the bound after layer j "
             "includes gamma_j itself, eps * gamma_1 * ... * gamma_j; your entry j stops at gamma_(j-1)"),
        ])


# -- chapter 8 -------------------------------------------------------------------------------
def relu_reference(zhat, z, a, l, u):
    """The big-M constraints of z = max(0, zhat) for an unstable unit, l <= zhat <= u, l < 0 < u
    (a = 1: on; a fractional: the LP relaxation), per point: all four hold."""
    return (z >= zhat) & (z >= 0) & (z <= zhat - l * (1 - a)) & (z <= u * a)


def _relu_points(rng, n, fractional, chapter_unit=False):
    """n points (zhat, z, a) and bounds (l, u) per point, all multiples of 1/64 or coarser, so
    that every constraint is computed exactly in float64 (no rounding at the boundaries). Half the
    points lie on the graph z = max(0, zhat), a quarter on the relaxation's upper boundary."""
    if chapter_unit:
        l, u = np.full(n, -2.0), np.full(n, 3.0)
    else:
        l, u = -rng.integers(1, 33, n) / 8, rng.integers(1, 33, n) / 8
    zhat = rng.integers(np.round(16 * (l - 1)).astype(int), np.round(16 * (u + 1)).astype(int) + 1) / 16
    if fractional:
        a = rng.integers(0, 9, n) / 8
    else:
        a = np.where(rng.random(n) < 0.75, (zhat > 0) * 1.0, rng.integers(0, 2, n) * 1.0)
    z = rng.integers(np.round(16 * (np.minimum(l, 0) - 1)).astype(int), np.round(16 * (u + 1)).astype(int) + 1) / 16
    kind = rng.random(n)
    z = np.where(kind < 0.5, np.maximum(zhat, 0.0), z)
    z = np.where((kind >= 0.5) & (kind < 0.75), np.minimum(zhat - l * (1 - a), u * a), z)
    return zhat, z, a, l, u


RELU_HINTS = [
    # (a wrong rule, the hint it earns); the first that matches the answer on every point is given
    (lambda zh, z, a, l, u: (z >= zh) & (z >= 0) & (z <= zh + l * (1 - a)) & (z <= u * a),
     "wrong sign in the third constraint: it is z <= zhat - l (1 - a). With l < 0, -l (1 - a) >= 0 LOOSENS "
     "z <= zhat when the unit is off (a = 0); z <= zhat + l (1 - a) tightens it, and leaves an off unit with "
     "zhat below -l no feasible z"),
    (lambda zh, z, a, l, u: (z >= zh) & (z >= 0) & (z <= zh - l * (1 - a)),
     "a missing bound: z <= u a. Without it an off unit (a = 0) may take any z from max(0, zhat) up to "
     "zhat - l; z <= u a is what pins z to 0 when a = 0"),
    (lambda zh, z, a, l, u: (z >= zh) & (z >= 0) & (z <= u * a),
     "a missing bound: z <= zhat - l (1 - a). Without it an on unit (a = 1) may take any z from max(0, zhat) "
     "up to u; this constraint is what pins z to zhat when a = 1"),
    (lambda zh, z, a, l, u: (z >= zh) & (z <= zh - l * (1 - a)) & (z <= u * a),
     "a missing bound: z >= 0. A ReLU's output is never negative; without it a = 1 allows z = zhat below 0, "
     "and a = 0 any z between zhat and 0"),
    (lambda zh, z, a, l, u: (z >= 0) & (z <= zh - l * (1 - a)) & (z <= u * a),
     "a missing bound: z >= zhat. Without it an on unit may take any z between 0 and zhat, and an off unit "
     "(z = 0) a positive zhat"),
    (lambda zh, z, a, l, u: (z >= zh) & (z >= 0) & (z <= zh - u * (1 - a)) & (z <= l * a),
     "l and u swapped: u belongs in z <= u a (how large z may be when the unit is on) and -l in "
     "z <= zhat - l (1 - a) (how far below 0 zhat may be when it is off)"),
    (lambda zh, z, a, l, u: (z >= zh) & (z >= 0) & (z <= zh + u * (1 - a)) & (z <= -l * a),
     "l and u swapped: u belongs in z <= u a (how large z may be when the unit is on) and -l in "
     "z <= zhat - l (1 - a) (how far below 0 zhat may be when it is off)"),
    (lambda zh, z, a, l, u: (z >= zh) & (z >= 0) & (z <= zh - l * a) & (z <= u * (1 - a)),
     "a has the wrong meaning: a = 1 must mean ON (then z <= zhat - l (1 - a) reads z <= zhat) and a = 0 OFF "
     "(then z <= u a reads z <= 0); you wrote the constraints of a = 1 meaning off"),
    (lambda zh, z, a, l, u: (z > zh) & (z > 0) & (z < zh - l * (1 - a)) & (z < u * a),
     "strict inequalities: the constraints are >= and <=, and the points of the graph z = max(0, zhat) lie ON "
     "them (z = zhat when on, z = 0 when off): they must be feasible"),
    (lambda zh, z, a, l, u: relu_reference(zh, z, a, l, u) & ((a == 0) | (a == 1)),
     "you rejected fractional a: for a between 0 and 1 the same four inequalities describe the LP relaxation "
     "the solver starts from; test only the four constraints"),
]


def check_relu_constraints(fn, rng, module):
    """Chapter 8: relu_feasible(zhat, z, a, l, u) -> (n,) booleans, the big-M constraints of one ReLU."""
    cases = [("the chapter's unit, l = -2, u = 3; a in {0, 1}", False, True),
             ("random bounds per point; a in {0, 1}", False, False),
             ("random bounds per point; a in {0, 1}", False, False),
             ("random bounds per point; a fractional, in {0, 1/8, ..., 1}: the relaxation", True, False),
             ("random bounds per point; a fractional, in {0, 1/8, ..., 1}: the relaxation", True, False)]
    what = "relu_feasible(zhat, z, a, l, u)"
    n = 400
    inputs = [(text, _relu_points(rng, n, fractional, chapter_unit)) for text, fractional, chapter_unit in cases]

    def answer(case):
        text, points = inputs[case]
        expected = relu_reference(*points)
        desc = (f"#{case} ({text}; {n} points, half of them on the graph z = max(0, zhat), "
                f"{int(expected.sum())} feasible)")
        got = fn(*(p.copy() for p in points))
        if got is None:
            raise Mismatch(f"{what} on input {desc}: your function returned None (a missing `return`?); "
                           f"expected {n} booleans, got None")
        got = np.asarray(got)
        if got.shape != (n,):
            raise Mismatch(f"{what} on input {desc}: shape ({n},) expected (one answer per point), got {got.shape}")
        if got.dtype != bool:
            if not np.isin(got, (0, 1)).all():
                raise Mismatch(f"{what} on input {desc}: expected booleans (True: all four constraints hold), "
                               f"got values such as {got[~np.isin(got, (0, 1))][0]!r}")
            got = got.astype(bool)
        return got, expected, desc

    for case in range(len(cases)):
        got, expected, desc = answer(case)
        if np.array_equal(got, expected):
            continue
        # The hints whose wrong rule gives this answer; where several do (a rule that admits no
        # point at all, say), the later inputs decide between them.
        points = inputs[case][1]
        candidates = [(rule, hint) for rule, hint in RELU_HINTS if np.array_equal(got, rule(*points))]
        for later in range(case + 1, len(cases)):
            if len(candidates) < 2:
                break
            got_later = answer(later)[0]
            kept = [(rule, hint) for rule, hint in candidates if np.array_equal(got_later, rule(*inputs[later][1]))]
            candidates = kept or candidates
        diagnosis = candidates[0][1] if candidates else "values differ"
        zhat, z, a, l, u = points
        differ = got != expected
        inside = np.flatnonzero(differ & (zhat >= l) & (zhat <= u))     # a point the bounds allow shows it best
        k = int(inside[0]) if len(inside) else int(np.flatnonzero(differ)[0])
        raise Mismatch(f"{what} on input {desc}: {diagnosis}\n"
                       f"    first difference at the point zhat = {zhat[k]:g}, z = {z[k]:g}, a = {a[k]:g} (l = {l[k]:g}, "
                       f"u = {u[k]:g}; max(0, zhat) = {max(zhat[k], 0.0):g}): expected {bool(expected[k])}, "
                       f"got {bool(got[k])} ({int(differ.sum())} of {n} points differ)")


EXERCISES = {
    # name: (what the file defines, checker, chapter, file stem)
    "fgsm_linear": ("fgsm_linear", check_fgsm_linear, 1, "ex1_fgsm_linear"),
    "top_k": ("sparsify", check_top_k, 2, "ex2_top_k"),
    "attenuation": ("measure", check_attenuation, 2, "ex2_attenuation"),
    "w_eq_fc2": ("w_eq_fc2", check_w_eq_fc2, 3, "ex3_w_eq_fc2"),
    "high_snr": ("high_snr_share", check_high_snr, 3, "ex3_high_snr"),
    "pair_candidates": ("pair_candidates", check_pair_candidates, 4, "ex4_pair_candidates"),
    "robust_and_success": ("robust_and_success", check_robust_and_success, 5, "ex5_robust_and_success"),
    "halving_eps": ("halving_eps", check_halving_eps, 5, "ex5_halving_eps"),
    "dlr_loss": ("dlr_loss", check_dlr_loss, 6, "ex6_dlr_loss"),
    "theorem2_bounds": ("theorem2_bounds", check_theorem2_bounds, 7, "ex7_theorem2_bounds"),
    "relu_constraints": ("relu_feasible", check_relu_constraints, 8, "ex8_relu_constraints"),
}
NEEDS_DATA = {"halving_eps"}


def load_module(path):
    spec = importlib.util.spec_from_file_location(f"student_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_function(path, name):
    fn = getattr(load_module(path), name, None)
    if not callable(fn):
        raise AttributeError(f"{path} defines no function `{name}`")
    return fn


def check(exercise, path, seed=0):
    """(passed, message) for ``path``'s answer to ``exercise``."""
    name, checker, chapter, _ = EXERCISES[exercise]
    module = load_module(path)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise AttributeError(f"{path} defines no function `{name}`")
    try:
        checker(fn, np.random.default_rng(seed), module)
    except Mismatch as e:
        return False, f"FAIL {exercise} (chapter {chapter}): {e}"
    except CannotCheck:
        raise
    except NotImplementedError as e:
        what = str(e) if isinstance(e, NotYet) else f"`{name}` is not implemented yet"
        if "not implemented yet" not in what:
            what += f" (and `{name}` is not implemented yet)" if _blank(fn) else ""
        return False, f"FAIL {exercise} (chapter {chapter}): {what}"
    except Exception:
        return False, (f"FAIL {exercise} (chapter {chapter}): `{name}` raised an exception:\n"
                       + traceback.format_exc(limit=-3))
    return True, f"PASS {exercise} (chapter {chapter}): `{name}` agrees with the expected answers on every input"


def _blank(fn):
    """Does ``fn`` still raise NotImplementedError (the template's body)?"""
    import inspect
    try:
        return "raise NotImplementedError" in inspect.getsource(fn)
    except (OSError, TypeError):
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exercise", nargs="?", help="exercise name (see --list)")
    ap.add_argument("file", nargs="?", help="your Python file")
    ap.add_argument("--list", action="store_true", help="list the exercises")
    args = ap.parse_args(argv)
    if args.list or not args.exercise:
        for key, (name, checker, chapter, stem) in EXERCISES.items():
            print(f"{key:20s} chapter {chapter}: {checker.__doc__.split(': ', 1)[1]}  [exercises/{stem}.py]")
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
