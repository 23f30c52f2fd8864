"""The Square Attack (Andriushchenko, Croce, Flammarion & Hein 2020), ℓ∞, untargeted.

A random search that only ever asks the classifier for logits: no gradient, so a front
end that hides or distorts gradients cannot mislead it. That makes it the check for
gradient masking: if it beats the gradient attacks, their gradients were masked.

Start: vertical stripes, each column of the image shifted by ±ε. Then, per query, a
random s x s square of the perturbation is set to ±ε (one sign per square) and the
proposal is kept when it lowers the margin z_y - max_{i != y} z_i. The square's area is
a share p of the image, p decreasing on the published schedule from p_init = 0.8. An
example stops once misclassified. The random draws of every query are made for the
whole set, so the result does not depend on the batch size.
"""
from __future__ import annotations

import numpy as np

from ..models import predictions
from ..progress import Progress, stderr
from .common import batches, check_inputs, check_settings, margin, project, selected

# (iteration, on the 10,000-query scale, after which p is halved once more)
P_SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_size_share(p_init, i, queries):
    """p at iteration i of ``queries``: the published schedule, rescaled to the budget."""
    it = int(i / queries * 10000)
    return p_init / 2 ** sum(it > t for t in P_SCHEDULE)


def square(clf, x, y, eps, queries=5000, p_init=0.8, restarts=1, rng=None, batch_size=1000, only=None,
           log=stderr):
    """Square Attack with ``queries`` forward passes per example and run at most (the start
    included). ``restarts`` > 1 runs it again, from new stripes and with new draws, on the
    examples no earlier run fooled: a random search's result hangs on its draws, and
    another run finds some of what one run misses. Returns adversarial images (per
    example the first misclassified point found, else the lowest margin over the runs);
    examples misclassified when clean, or not selected by ``only`` (see
    ``common.selected``), are returned unchanged. ``log``: progress lines (None: silent)."""
    x, y = check_inputs(clf, x, y, eps)
    s = check_settings(queries=queries, p_init=p_init, restarts=restarts, rng=rng, batch_size=batch_size)
    rng = np.random.default_rng(s["rng"])
    n = len(x)
    best = x.copy()
    todo = selected(only, n)
    todo = todo[clf.predict(x[todo], s["batch_size"]) == y[todo]]
    fooled = np.ones(n, bool)
    fooled[todo] = False
    m_best = np.full(n, np.inf)
    report = Progress("Square Attack", s["restarts"] * s["queries"], log, "queries")
    for r in range(s["restarts"]):
        # Draws for every example, used or not, so each example's draws depend on r and i alone.
        stripes = rng.choice(np.array([-eps, eps], x.dtype), size=(n, 1, x.shape[2]))
        run = np.flatnonzero(~fooled)
        point = best.copy()
        point[run] = project(x[run] + stripes[run], x[run], eps)
        m_run = np.full(n, -np.inf)
        _score(clf, point, y, run, m_run, fooled, s["batch_size"])
        _search(clf, x, y, eps, s["queries"], s["p_init"], rng, point, m_run, fooled, s["batch_size"],
                lambda i: report.update(r * s["queries"] + i + 1,
                                        f"{100 * fooled[todo].mean() if len(todo) else 0:.1f}% of the "
                                        "correctly classified examples fooled"))
        # Keep each example's fooling point, else its lowest margin over the runs.
        keep = run[fooled[run] | (m_run[run] < m_best[run])]
        best[keep], m_best[keep] = point[keep], m_run[keep]
        if fooled[todo].all():
            break
    report.finish()
    return best


def _search(clf, x, y, eps, queries, p_init, rng, best, m_best, fooled, batch_size, progress):
    """One run's random search from the points ``best`` (margins ``m_best``), in place."""
    n, h, w = x.shape
    for i in range(queries - 1):
        # Draws for every example, used or not: each example's draws depend on i alone.
        s = min(max(int(round(np.sqrt(square_size_share(p_init, i, queries) * h * w))), 1), h - 1)
        top, left = rng.integers(0, h - s, size=n), rng.integers(0, w - s, size=n)
        sign = rng.choice(np.array([-1, 1], x.dtype), size=n)
        act = np.flatnonzero(~fooled)
        if not len(act):
            break
        # Only the square changes: outside it the proposal is the current point, which is
        # already in the ball (projecting it again would return it unchanged). So the step
        # is computed on the s x s patches alone, gathered by fancy indexing.
        r = (top[act, None] + np.arange(s))[:, :, None]         # (A, s, 1) rows of each square
        c = (left[act, None] + np.arange(s))[:, None, :]        # (A, 1, s) its columns
        a = act[:, None, None]
        old, lo = best[a, r, c], x[a, r, c]
        patch = project(old + 2 * eps * sign[act, None, None], lo, eps)
        # A square already at that sign changes nothing: try the other sign there.
        same = ~(np.abs(patch - old) > 1e-7).reshape(len(act), -1).any(axis=1)
        if same.any():
            patch[same] = project(old[same] - 2 * eps * sign[act[same], None, None], lo[same], eps)
        proposal = best[act]
        proposal[np.arange(len(act))[:, None, None], r, c] = patch
        _accept(clf, proposal, y, act, best, m_best, fooled, batch_size)
        progress(i + 1)


def _score(clf, points, y, idx, m_best, fooled, batch_size):
    """Margins (max other logit - true logit, > 0 iff fooled) of points[idx]; records them."""
    for b in batches(len(idx), batch_size):
        i = idx[b]
        logits = clf.forward(points[i])
        m_best[i] = -margin(logits, y[i])       # z_y - max_{j != y} z_j: lower is better
        fooled[i] = predictions(logits) != y[i]


def _accept(clf, proposal, y, act, best, m_best, fooled, batch_size):
    """Keep each proposal that lowers its example's margin or misclassifies it."""
    for b in batches(len(act), batch_size):
        i = act[b]
        logits = clf.forward(proposal[b])
        m = -margin(logits, y[i])
        hit = predictions(logits) != y[i]
        keep = (m < m_best[i]) | hit
        best[i[keep]] = proposal[b][keep]
        m_best[i[keep]] = m[keep]
        fooled[i[hit]] = True
