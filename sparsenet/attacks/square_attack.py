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
from .common import batches, check_inputs, margin, project, selected

# (iteration, on the 10,000-query scale, after which p is halved once more)
P_SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_size_share(p_init, i, queries):
    """p at iteration i of ``queries``: the published schedule, rescaled to the budget."""
    it = int(i / queries * 10000)
    return p_init / 2 ** sum(it > t for t in P_SCHEDULE)


def square(clf, x, y, eps, queries=5000, p_init=0.8, rng=None, batch_size=1000, only=None, log=None):
    """Square Attack with ``queries`` forward passes per example at most (the start
    included). Returns adversarial images; examples misclassified when clean, or not
    selected by ``only`` (see ``common.selected``), are returned unchanged. ``log``, if
    given, receives a progress line every 500 queries."""
    x, y = check_inputs(clf, x, y, eps)
    if not (isinstance(queries, (int, np.integer)) and queries >= 1):
        raise ValueError(f"queries must be an integer >= 1, got {queries!r}")
    if not 0 < p_init <= 1:
        raise ValueError(f"p_init must be in (0, 1], got {p_init}")
    rng = np.random.default_rng(rng)
    n, h, w = x.shape
    stripes = rng.choice(np.array([-eps, eps], x.dtype), size=(n, 1, w))
    best = x.copy()
    todo = selected(only, n)
    todo = todo[clf.predict(x[todo], batch_size) == y[todo]]
    best[todo] = project(x[todo] + stripes[todo], x[todo], eps)
    m_best = np.full(n, -np.inf)
    fooled = np.ones(n, bool)
    fooled[todo] = False
    _score(clf, best, y, todo, m_best, fooled, batch_size)
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
        if log and (i + 2) % 500 == 0:
            log(f"  Square: {i + 2}/{queries} queries, {100 * fooled[todo].mean() if len(todo) else 0:.1f}% "
                "of the correctly classified examples fooled")
    return best


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
