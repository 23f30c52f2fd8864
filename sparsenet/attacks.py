"""White-box attacks of Section 5, hand-coded on the engine.

Every attack looks the same from outside: ``attack(clf, x, y, eps, ..., batch_size)``
takes a ``models.Classifier`` (a network, optionally behind a front end), images x in
[0, 1] of shape (n, 28, 28), true labels y, and returns adversarial images of the same
shape and dtype. x is never modified. Gradients cross the front end through
``clf.backward``: the exact VJP unless the front end was built with ``gradient="bpda"``.
Large sets are cut into batches of ``batch_size``; every quantity is per example, so
results do not depend on the batch size.

``evaluate`` re-predicts the returned images and checks the budget itself: nothing an
attack returns is trusted (STYLE pattern 10).
"""
from __future__ import annotations

import time

import numpy as np

from .linear_model import equivalent_linear, pair_difference
from .losses import cross_entropy
from .models import predictions


# -- shared pieces ------------------------------------------------------------------
def check_inputs(clf, x, y, eps=0.0, delta=None, iterations=1):
    """Validate an attack's arguments; returns (x, y) as arrays."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or x.shape[1:] != clf.net.input_shape:
        raise ValueError(f"x must have shape (n, {', '.join(map(str, clf.net.input_shape))}), got {x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},) to match x, got {y.shape}")
    if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
        raise ValueError("x must be finite floating-point images")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
    n_classes = max(clf.n_logits, 2)
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"labels must be integers in [0, {n_classes - 1}]")
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if delta is not None and not delta > 0:
        raise ValueError(f"delta (step size) must be > 0, got {delta}")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations}")
    return x, y


def project(x_adv, x, eps):
    """Back into the ε-ball around x and into [0, 1] (the one place both are enforced)."""
    return np.clip(np.clip(x_adv, x - eps, x + eps), 0, 1).astype(x.dtype, copy=False)


def loss_gradient(clf, x, y):
    """(per-example losses' logits, dJ/dx) with J the cross-entropy of each example."""
    logits = clf.forward(x)
    _, seed = cross_entropy(logits, y, reduction="sum")
    return logits, clf.backward(seed)


def _batches(n, batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _margin(logits, y):
    """max_{j != t} y_j - y_t (> 0 iff misclassified); for one logit, the signed logit
    pushed towards the wrong class."""
    if logits.shape[1] == 1:
        return np.where(y == 1, -logits[:, 0], logits[:, 0])
    z = logits.astype(np.float64).copy()
    rows = np.arange(len(y))
    true = z[rows, y].copy()
    z[rows, y] = -np.inf
    return z.max(axis=1) - true


# -- Section 3.5-3.6: locally linear attacks ---------------------------------------
def locally_linear(clf, x, y, eps, mode="semi-white", iterations=1, delta=None, batch_size=200):
    """The locally linear attack (Sections 3.5, 3.6) and its iterative version.

    Semi-white box, A_SW(x1, ε) = ε sgn(w_eq(x1)): the attacker knows the network but
    not the front end, so w_eq is the network's locally linear model at the raw x1.
    White box, A_W(x1, ε) = ε sgn(P_K(w_eq(x1), x1)): the attacker knows the front end,
    so w_eq is the network's model at the front end's output F(x1) (what the network
    sees) carried back by P_K. Without a front end the two coincide.

    Binary (one logit): the direction pushes the logit towards the wrong class.
    Multiclass: one candidate per class i != t from w_eq^{i} - w_eq^{t}; all are run
    through the real classifier and each example keeps the candidate with the largest
    max_j (y_j - y_t) (Section 3.6's worst-case pair).

    Iterative (``iterations`` > 1, step ``delta``): e_{k+1} = clip_ε(e_k + A(x + e_k, δ)),
    with x1 = x + e_k, kept in [0, 1].
    """
    if mode not in ("semi-white", "white"):
        raise ValueError(f"mode must be 'semi-white' or 'white', got {mode!r}")
    if iterations > 1 and delta is None:
        raise ValueError("the iterative locally linear attack needs a step size delta")
    x, y = check_inputs(clf, x, y, eps, delta, iterations)
    step = eps if iterations == 1 else delta
    out = np.empty_like(x)
    for b in _batches(len(x), batch_size):
        xb, yb, xa = x[b], y[b], x[b].copy()
        for _ in range(iterations):
            xa = project(_linear_step(clf, xa, yb, step, mode), xb, eps)
        out[b] = xa
    return out


def _linear_step(clf, x1, y, step, mode):
    """x1 + A(x1, step) for every example: the best candidate for multiclass."""
    front = clf.frontend if mode == "white" else None
    seen = x1 if front is None else front(x1)
    W_eq, b_eq = equivalent_linear(clf.net, seen)                     # (B, L, N)
    if clf.n_logits == 1:
        direction = W_eq[:, 0] * np.where(y == 1, -1, 1)[:, None]      # push to the wrong side
        if front is not None:
            direction = front.project(direction, x1)
        return np.clip(x1 + step * np.sign(direction).reshape(x1.shape), 0, 1)
    D, _ = pair_difference(W_eq, b_eq, y)                              # rows w^i - w^t
    if front is not None:
        D = front.project(D, x1)
    B, L = D.shape[:2]
    cands = np.clip(x1[:, None] + step * np.sign(D).reshape(B, L, *x1.shape[1:]), 0, 1)
    cands = cands.astype(x1.dtype, copy=False)
    logits = clf.forward(cands.reshape(B * L, *x1.shape[1:]))
    margins = _margin(logits, np.repeat(y, L)).reshape(B, L)
    margins[np.arange(B), y] = -np.inf                                 # i = t is no candidate
    return cands[np.arange(B), margins.argmax(axis=1)]


# -- gradient attacks ---------------------------------------------------------------
def fgsm(clf, x, y, eps, batch_size=500):
    """FGSM (Goodfellow et al. 2015): x + ε sgn(∇_x J(x, y)), clipped to [0, 1]."""
    x, y = check_inputs(clf, x, y, eps)
    out = np.empty_like(x)
    for b in _batches(len(x), batch_size):
        _, g = loss_gradient(clf, x[b], y[b])
        out[b] = project(x[b] + eps * np.sign(g), x[b], eps)
    return out


def _plain_gradient(n):
    return lambda idx, g: g


def _iterate(clf, x, y, eps, delta, iterations, start, make_direction, stop_on_success, batch_size,
             with_first_success=False):
    """The loop shared by I-FGSM, PGD and MI-FGSM: x_{k+1} = Π(x_k + δ sgn(d_k)).

    ``start(b)`` gives the first iterate of batch slice b; ``make_direction(n)`` makes,
    per batch, a function (idx, grad) -> d_k that may keep per-example state (momentum).
    With ``stop_on_success`` an example misclassified at some iterate is frozen there.
    ``with_first_success`` also returns, per example, the first misclassified iterate (the
    final one where none was): what ``stop_on_success`` would return, from the same run,
    at the cost of one extra forward pass (each step's gradient pass already gives the
    current iterate's logits).
    """
    out = np.empty_like(x)
    first = np.empty_like(x) if with_first_success else None
    for b in _batches(len(x), batch_size):
        xb, yb = x[b], y[b]
        xa = start(b)
        active = np.ones(len(xb), bool)
        found = np.zeros(len(xb), bool)      # with_first_success: first iterate recorded
        fb = xa.copy() if with_first_success else None
        direction = make_direction(len(xb))
        for _ in range(iterations):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            logits, g = loss_gradient(clf, xa[idx], yb[idx])
            hit = predictions(logits) != yb[idx]
            if with_first_success:
                new = idx[hit & ~found[idx]]
                fb[new], found[new] = xa[new], True
            if stop_on_success:
                active[idx[hit]] = False
                idx, g = idx[~hit], g[~hit]
                if not len(idx):
                    break
            d = direction(idx, g)
            xa[idx] = project(xa[idx] + delta * np.sign(d), xb[idx], eps)
        out[b] = xa
        if with_first_success:
            rest = ~found                      # not fooled before: the final iterate stands
            fb[rest] = xa[rest]
            first[b] = fb
    return (out, first) if with_first_success else out


def iterative_fgsm(clf, x, y, eps, delta, iterations, stop_on_success=False, batch_size=500,
                   with_first_success=False):
    """Iterative FGSM (Kurakin et al. 2017): from x, steps δ sgn ∇J, each projected into
    the ε-ball and [0, 1]. ``stop_on_success`` freezes an example at the first
    misclassified iterate (keeps the adversarial found: never weaker than the final
    iterate). ``with_first_success`` returns (final iterates, first misclassified
    iterates) from one run."""
    x, y = check_inputs(clf, x, y, eps, delta, iterations)
    return _iterate(clf, x, y, eps, delta, iterations, lambda b: x[b].copy(),
                    _plain_gradient, stop_on_success, batch_size, with_first_success)


def pgd(clf, x, y, eps, delta, iterations, restarts=1, rng=None, stop_on_success=False, batch_size=500,
        with_first_success=False):
    """PGD (Madry et al. 2018): a uniform random start in the ε-ball (clipped to [0, 1]),
    then I-FGSM steps. With ``restarts`` > 1 each example keeps its worst case
    (misclassified, else the highest loss). ``rng``: seed or Generator.
    ``with_first_success``: as in ``iterative_fgsm`` (each restart's first iterates
    compete like the final ones)."""
    x, y = check_inputs(clf, x, y, eps, delta, iterations)
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    rng = np.random.default_rng(rng)
    best, best_score = x.copy(), np.full(len(x), -np.inf)
    best_first, best_first_score = x.copy(), np.full(len(x), -np.inf)
    for _ in range(restarts):
        # One draw for the whole set, so the start does not depend on the batch size.
        noise = rng.uniform(-eps, eps, size=x.shape).astype(x.dtype)
        xa = _iterate(clf, x, y, eps, delta, iterations, lambda b: project(x[b] + noise[b], x[b], eps),
                      _plain_gradient, stop_on_success, batch_size, with_first_success)
        xa, xf = xa if with_first_success else (xa, None)
        score = _attack_score(clf, xa, y, batch_size)
        better = score > best_score
        best[better], best_score[better] = xa[better], score[better]
        if with_first_success:
            score = _attack_score(clf, xf, y, batch_size)
            better = score > best_first_score
            best_first[better], best_first_score[better] = xf[better], score[better]
    return (best, best_first) if with_first_success else best


def _attack_score(clf, x_adv, y, batch_size):
    """Higher is worse for the defender: +inf when misclassified, else the margin
    max_{j != t} y_j - y_t."""
    scores = np.empty(len(x_adv))
    for b in _batches(len(x_adv), batch_size):
        logits = clf.forward(x_adv[b])
        scores[b] = np.where(predictions(logits) != y[b], np.inf, _margin(logits, y[b]))
    return scores


def mi_fgsm(clf, x, y, eps, delta, iterations, mu=1.0, stop_on_success=False, batch_size=500,
            with_first_success=False):
    """MI-FGSM (Dong et al. 2018): g_{k+1} = μ g_k + ∇J / ||∇J||_1 (per example), step
    δ sgn(g_{k+1}). ``stop_on_success``, ``with_first_success``: as in ``iterative_fgsm``."""
    x, y = check_inputs(clf, x, y, eps, delta, iterations)

    def momentum(n):
        g_acc = np.zeros((n,) + x.shape[1:], dtype=np.float64)

        def direction(idx, g):
            l1 = np.abs(g).reshape(len(g), -1).sum(axis=1).astype(np.float64)
            g_acc[idx] = mu * g_acc[idx] + g / np.maximum(l1, 1e-12)[:, None, None]
            return g_acc[idx]
        return direction

    return _iterate(clf, x, y, eps, delta, iterations, lambda b: x[b].copy(), momentum,
                    stop_on_success, batch_size, with_first_success)


# -- Carlini-Wagner l2 --------------------------------------------------------------
def carlini_wagner_l2(clf, x, y, confidence=0.0, lr=1e-2, initial_const=1e-3, binary_steps=9,
                      max_iterations=1000, abort_early=True, batch_size=500, log=None):
    """Carlini & Wagner's ℓ2 attack (2017), untargeted, on logits.

    x_adv = (tanh(w) + 1) / 2; minimise ||x_adv - x||_2^2 + c f(x_adv) with
    f = max(Z_t - max_{i != t} Z_i, -κ); the best other class is found by setting the
    true logit to -inf. Adam on w. Per example: a binary search over c (×10 until the
    first success, then bisection) and an early abort when the loss stops falling (checked
    every max_iterations/10 steps). Through a front end the paper uses BPDA (App. B.3):
    build the classifier's front end with ``gradient="bpda"`` for that.

    Returns (x_adv, info): each example's smallest-ℓ2 successful adversarial (x itself
    where none was found), and per-example arrays ``success``, ``l2``, ``linf``, ``const``.
    """
    x, y = check_inputs(clf, x, y)
    if binary_steps < 1 or max_iterations < 1 or lr <= 0 or initial_const <= 0:
        raise ValueError("binary_steps and max_iterations must be >= 1, lr and initial_const > 0")
    out = x.copy()
    info = {"success": np.zeros(len(x), bool), "l2": np.zeros(len(x)), "linf": np.zeros(len(x)),
            "const": np.full(len(x), np.nan)}
    start = time.perf_counter()
    for b in _batches(len(x), batch_size):
        xa, found, l2, c = _cw_batch(clf, x[b], y[b], confidence, lr, initial_const, binary_steps,
                                     max_iterations, abort_early, log, start)
        out[b] = np.where(found[:, None, None], xa, x[b])
        d = (out[b] - x[b]).reshape(len(xa), -1).astype(np.float64)
        info["success"][b], info["const"][b] = found, c
        info["l2"][b] = np.sqrt((d ** 2).sum(axis=1))
        info["linf"][b] = np.abs(d).max(axis=1)
    return out, info


def _cw_batch(clf, x, y, kappa, lr, initial_const, binary_steps, max_iterations, abort_early, log, t0):
    n, shape = len(x), x.shape
    x64 = x.astype(np.float64)
    w0 = np.arctanh((2 * x64 - 1) * (1 - 1e-6))
    const = np.full(n, initial_const)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    best_l2, best_adv = np.full(n, np.inf), x.copy()
    for step in range(binary_steps):
        w = w0.copy()
        m, v = np.zeros_like(w), np.zeros_like(w)
        succeeded = np.zeros(n, bool)
        active = np.ones(n, bool)
        prev = np.full(n, np.inf)
        check_every = max(1, max_iterations // 10)
        for it in range(1, max_iterations + 1):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            xa = ((np.tanh(w[idx]) + 1) / 2)
            logits = clf.forward(xa.astype(x.dtype)).astype(np.float64)
            z = _two_class(logits) if logits.shape[1] == 1 else logits
            rows = np.arange(len(idx))
            true = z[rows, y[idx]]
            other = z.copy()
            other[rows, y[idx]] = -np.inf
            best_other = other.max(axis=1)
            f = np.maximum(true - best_other, -kappa)
            diff = xa - x64[idx]
            l2sq = (diff ** 2).reshape(len(idx), -1).sum(axis=1)
            loss = l2sq + const[idx] * f
            # Record successes (the attack's criterion: the true class no longer wins by κ).
            ok = (best_other - true) > kappa if kappa > 0 else predictions(logits) != y[idx]
            better = ok & (l2sq < best_l2[idx])
            best_l2[idx[better]] = l2sq[better]
            best_adv[idx[better]] = xa[better].astype(x.dtype)
            succeeded[idx[ok]] = True
            # d loss / d logits: c * (e_t - e_best) where the hinge is active.
            seed = np.zeros_like(z)
            hinge = (true - best_other) > -kappa
            seed[rows, y[idx]] = const[idx] * hinge
            seed[rows, other.argmax(axis=1)] -= const[idx] * hinge
            if logits.shape[1] == 1:
                seed = (seed[:, 1] - seed[:, 0])[:, None]
            g_x = clf.backward(seed.astype(x.dtype)).astype(np.float64) + 2 * diff
            g_w = g_x * (1 - np.tanh(w[idx]) ** 2) / 2
            # Adam (lr, 0.9, 0.999), per example: bias correction uses the shared step count.
            m[idx] = 0.9 * m[idx] + 0.1 * g_w
            v[idx] = 0.999 * v[idx] + 0.001 * g_w ** 2
            mhat, vhat = m[idx] / (1 - 0.9 ** it), v[idx] / (1 - 0.999 ** it)
            w[idx] -= lr * mhat / (np.sqrt(vhat) + 1e-8)
            if abort_early and it % check_every == 0:
                stalled = loss > 0.9999 * prev[idx]
                active[idx[stalled]] = False
                prev[idx] = loss
        # Binary search on c, per example.
        upper = np.where(succeeded, np.minimum(upper, const), upper)
        lower = np.where(~succeeded, np.maximum(lower, const), lower)
        const = np.where(np.isfinite(upper), (lower + upper) / 2, const * 10)
        if log:
            log(f"  C&W binary step {step + 1}/{binary_steps}: {100 * np.isfinite(best_l2).mean():.1f}% "
                f"adversarial so far ({time.perf_counter() - t0:.0f}s)")
    found = np.isfinite(best_l2)
    return best_adv, found, np.sqrt(best_l2), np.where(found, upper, np.nan)


def _two_class(logits):
    """A one-logit binary network as two logits (0, y): class 1 wins iff y > 0."""
    return np.concatenate([np.zeros_like(logits), logits], axis=1)


# -- central evaluation -------------------------------------------------------------
def evaluate(clf, x, y, x_adv, eps=None, batch_size=1000, tol=1e-6):
    """Re-predict clean and adversarial images and check the attack's output.

    Raises ValueError if x_adv leaves [0, 1] or (with ``eps``) the ℓ∞ ball of radius eps.
    Returns n, clean_accuracy, robust_accuracy (over ALL examples), success_rate (over
    the examples classified correctly when clean), mean_linf and mean_l2.
    """
    x, y, x_adv = np.asarray(x), np.asarray(y), np.asarray(x_adv)
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv has shape {x_adv.shape}, x has {x.shape}")
    if x_adv.size and (x_adv.min() < -tol or x_adv.max() > 1 + tol or not np.isfinite(x_adv).all()):
        raise ValueError("adversarial images leave [0, 1]")
    d = (x_adv.astype(np.float64) - x).reshape(len(x), -1)
    linf = np.abs(d).max(axis=1) if len(x) else np.zeros(0)
    if eps is not None and len(x) and linf.max() > eps + tol:
        raise ValueError(f"adversarial images leave the ℓ∞ ball: max |δ| = {linf.max():.6g} > ε = {eps}")
    clean = clf.predict(x, batch_size) == y
    robust = clf.predict(x_adv, batch_size) == y
    return {"n": int(len(x)), "clean_accuracy": float(clean.mean()), "robust_accuracy": float(robust.mean()),
            "success_rate": float((~robust[clean]).mean()) if clean.any() else 0.0,
            "mean_linf": float(linf.mean()), "mean_l2": float(np.sqrt((d ** 2).sum(axis=1)).mean())}
