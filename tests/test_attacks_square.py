"""sparsenet.attacks.square_attack: the Square Attack needs no gradient, never raises a margin,
stays in the ball, follows the published schedule and square size, leaves misclassified
examples alone, and its step on the square alone gives the whole-image computation's result."""
import numpy as np
import pytest

import sparsenet.attacks.square_attack as square_module
from helpers import mlp, own_labels
from sparsenet import attacks
from sparsenet.attacks.common import margin, project
from sparsenet.attacks.square_attack import square_size_share
from sparsenet.models import Classifier, fc2, predictions


# -- the Square Attack --------------------------------------------------------------------
class NoGradient(Classifier):
    def backward(self, seed):
        raise AssertionError("the Square Attack asked for a gradient")


class Recording(Classifier):
    """A classifier that keeps every batch it is asked about, with the logits it answered:
    the Square Attack queries the model through ``forward`` alone, so this is all it saw."""

    def __init__(self, net):
        super().__init__(net)
        self.queries = []          # (images (b, 28, 28), logits (b, L)) per forward pass

    def forward(self, x):
        logits = super().forward(x)
        self.queries.append((np.array(x, copy=True), logits.copy()))
        return logits


def test_square_needs_no_gradient_and_is_deterministic():
    clf = NoGradient(mlp(13))
    x, y = own_labels(clf, 8)
    a = attacks.square(clf, x, y, 0.1, queries=50, rng=4)
    np.testing.assert_array_equal(a, attacks.square(clf, x, y, 0.1, queries=50, rng=4))
    assert not np.array_equal(a, attacks.square(clf, x, y, 0.1, queries=50, rng=5))


def test_square_margins_never_increase_and_its_points_stay_in_the_ball():
    """Every point the attack queries lies in its example's ε-ball and in [0, 1]; an example
    moves only to a point of lower margin z_y - max_{i != y} z_i (or one that fools it), so
    it ends at the first misclassified point it was queried at, else at the lowest-margin one."""
    clf = Recording(mlp(14))
    x, y = own_labels(clf, 10)
    eps = 0.1
    clf.queries.clear()
    adv = attacks.square(clf, x, y, eps, queries=80, rng=0, log=None)
    clean, *search = clf.queries                  # first the clean images, to skip the misclassified
    np.testing.assert_array_equal(clean[0], x)
    seen = [[] for _ in x]                        # per example: (point, margin, fooled) in query order
    for points, logits in search:
        distance = np.abs(points[:, None] - x[None]).reshape(len(points), len(x), -1).max(axis=2)
        assert (points >= 0).all() and (points <= 1).all()
        for p, z, d in zip(points, logits, distance):
            i, = np.flatnonzero(d <= eps + 1e-12)      # in exactly one example's ball
            m = -margin(z[None], y[i:i + 1])[0]
            seen[i].append((p, m, predictions(z[None])[0] != y[i]))
    lowered = 0
    for i, queried in enumerate(seen):
        assert queried                            # the stripes at least
        fooling = [p for p, _, hit in queried if hit]
        if fooling:
            np.testing.assert_array_equal(adv[i], fooling[0])
        else:
            margins = [m for _, m, _ in queried]
            np.testing.assert_array_equal(adv[i], queried[int(np.argmin(margins))][0])
            lowered += min(margins) < margins[0]
    assert lowered > 0                            # some proposals were accepted
    logits = clf.forward(adv)
    assert (attacks.margin(logits, y)[clf.predict(adv) == y] < 0).all()


def test_square_schedule_halves_p_on_the_published_iterations():
    share = square_module.square_size_share
    assert share(0.8, 0, 10000) == 0.8 and share(0.8, 10, 10000) == 0.8
    assert share(0.8, 11, 10000) == 0.4 and share(0.8, 51, 10000) == 0.2
    assert share(0.8, 8001, 10000) == 0.8 / 512
    assert share(0.8, 5, 5000) == 0.8 and share(0.8, 6, 5000) == 0.4   # rescaled to 5,000 queries


def test_square_starts_from_vertical_stripes():
    clf = Classifier(mlp(15))
    x = np.full((3, 28, 28), 0.5)
    y = clf.predict(x)
    start = attacks.square(clf, x, y, 0.1, queries=1, rng=0)     # one query: the start alone
    d = start - x
    np.testing.assert_allclose(np.abs(d), 0.1)
    np.testing.assert_array_equal(d, np.broadcast_to(d[:, :1, :], d.shape))   # constant down each column


# -- the Square Attack ------------------------------------------------------------------------------
def test_square_first_proposal_is_an_s_by_s_square_of_the_published_size():
    """The first query's square has area p_init h w = 0.8 * 784: side round(sqrt(627.2)) = 25.
    From the vertical stripes, the proposal changes full columns of exactly 25 rows, all to
    one sign (a side taken from the area without the square root, or s + 1 rows, fails)."""
    net = mlp(15)
    net.weighted[-1].params["b"][0] += 5            # a clear winner: the stripes fool nobody
    clf = Recording(net)
    n, eps = 8, 0.1
    x = np.full((n, 28, 28), 0.5)
    y = clf.predict(x)
    clf.queries.clear()
    attacks.square(clf, x, y, eps, queries=2, rng=0, log=None)
    # The queries: the clean images (which are correct), the stripes, then one proposal each.
    assert len(clf.queries) == 3
    (old, _), (proposal, _) = clf.queries[1:]
    assert old.shape == proposal.shape == x.shape
    for i in range(n):
        changed = np.abs(proposal[i] - old[i]) > 1e-9
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        assert len(rows) == 25 and rows[-1] - rows[0] == 24, f"example {i}: {len(rows)} rows changed"
        assert 1 <= len(cols) and cols[-1] - cols[0] <= 24
        assert changed[np.ix_(rows, cols)].all()               # whole columns of the square
        d = proposal[i][changed] - x[i][changed]
        np.testing.assert_allclose(np.abs(d), eps)
        assert len(np.unique(np.sign(d))) == 1                  # one sign per square


def test_square_leaves_examples_misclassified_when_clean_unchanged():
    """Examples misclassified when clean are left as they are: only the correct ones get the
    stripes and the squares."""
    clf = Classifier(mlp(16))
    x, y = own_labels(clf, 6)
    wrong = y.copy()
    wrong[::2] = (y[::2] + 1) % 10
    out = attacks.square(clf, x, wrong, 0.1, queries=20, rng=0)
    np.testing.assert_array_equal(out[::2], x[::2])
    assert not np.array_equal(out[1::2], x[1::2])


# -- the Square Attack's step on the square alone ----------------------------------------------
def plain_square(clf, x, y, eps, queries, p_init=0.8, rng=None):
    """The Square Attack as first written: every step builds the whole-image proposal
    old + 2 eps sign 1[inside] and projects all of it."""
    rng = np.random.default_rng(rng)
    n, h, w = x.shape
    stripes = rng.choice(np.array([-eps, eps], x.dtype), size=(n, 1, w))
    best = x.copy()
    todo = np.flatnonzero(clf.predict(x) == y)
    best[todo] = project(x[todo] + stripes[todo], x[todo], eps)
    logits = clf.forward(best)
    m_best = -margin(logits, y)
    fooled = (predictions(logits) != y) | ~np.isin(np.arange(n), todo)
    rows, cols = np.arange(h), np.arange(w)
    for i in range(queries - 1):
        s = min(max(int(round(np.sqrt(square_size_share(p_init, i, queries) * h * w))), 1), h - 1)
        top, left = rng.integers(0, h - s, size=n), rng.integers(0, w - s, size=n)
        sign = rng.choice(np.array([-1, 1], x.dtype), size=n)
        act = np.flatnonzero(~fooled)
        if not len(act):
            break
        inside = ((rows >= top[act, None]) & (rows < top[act, None] + s))[:, :, None] & \
                 ((cols >= left[act, None]) & (cols < left[act, None] + s))[:, None, :]
        old = best[act]
        proposal = project(old + 2 * eps * sign[act, None, None] * inside, x[act], eps)
        same = ~(np.abs(proposal - old) > 1e-7).reshape(len(act), -1).any(axis=1)
        if same.any():
            flip = act[same]
            proposal[same] = project(old[same] - 2 * eps * sign[flip, None, None] * inside[same], x[flip], eps)
        logits = clf.forward(proposal)
        m = -margin(logits, y[act])
        hit = predictions(logits) != y[act]
        keep = (m < m_best[act]) | hit
        best[act[keep]] = proposal[keep]
        m_best[act[keep]] = m[keep]
        fooled[act[hit]] = True
    return best


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_square_steps_on_the_square_alone_give_the_whole_image_result(dtype):
    """Same draws, same proposals, same decisions: the returned images are identical. The
    images touch 0 and 1 so the [0, 1] clip acts, and 300 queries run every stage of p."""
    rng = np.random.default_rng(0)
    clf = Classifier(fc2(seed=3, dtype=dtype))
    x = np.clip(rng.uniform(-0.3, 1.3, (60, 28, 28)), 0, 1).astype(dtype)
    y = clf.predict(x)
    got = attacks.square(clf, x, y, 0.02, queries=300, rng=5)
    want = plain_square(clf, x, y, 0.02, queries=300, rng=5)
    assert 0 < (clf.predict(got) != y).mean() < 1            # some fooled, some ran to the end
    np.testing.assert_array_equal(got, want)
