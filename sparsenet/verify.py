"""Exact verification of ReLU networks: a mixed-integer linear program per example.

Every robust accuracy an attack reports is an upper bound: an example counts as robust because
the attacks that were run failed on it. For networks of Dense and ReLU layers (fc2, fc10) the
exact answer can be computed. "Is there an x' with ||x' - x||_inf <= eps, 0 <= x' <= 1, that the
network misclassifies?" is a mixed-integer linear program (MILP; Tjeng, Xiao & Tedrake,
*Evaluating Robustness of Neural Networks with Mixed Integer Programming*, ICLR 2019), solved
here with SciPy's ``milp`` (HiGHS).

The encoding
------------
The input is a vector of variables x' with the box bounds max(0, x - eps) <= x' <= min(1, x + eps).
A Dense layer is linear: its output zhat = W^T h + b is a linear expression of the variables. A
ReLU z = max(0, zhat) is not; given bounds l <= zhat <= u over the ball (``interval_bounds``),

* u <= 0: the unit is off on the whole ball, z = 0 (a constant);
* l >= 0: the unit is on on the whole ball, z = zhat (linear);
* l < 0 < u: the ball does not fix its sign. One binary variable a in {0, 1} (a = 1: "on") and
  four linear constraints say exactly z = max(0, zhat):

      z >= zhat,      z >= 0,      z <= zhat - l (1 - a),      z <= u a.

  With a = 1 the last two read z <= zhat and z <= u, so z = zhat (and zhat >= z >= 0); with
  a = 0 they read z <= zhat - l (true for every zhat >= l) and z <= 0, so z = 0 (and
  zhat <= z = 0). The constants -l and u are the "big M"s: the tighter the bounds, the tighter
  the program's linear relaxation (a in [0, 1]) and the faster the branch and bound.

The logits are then linear expressions of x' and the units' z. The margin of the true class t
against another class j is m_j = y_t - y_j (one logit, binary: m = y for t = 1, -y for t = 0;
class 1 iff y > 0). The example is robust iff min over the ball of every m_j is > 0.

That is the whole method; ``exact(..., plain=True)`` runs it as written (per competing class j,
a binary for every unstable unit, HiGHS minimizes m_j; robust iff every minimum exceeds tau,
below). The default does the same with the fast parts listed under Speed.

Statuses and the numerical tolerance
------------------------------------
The programs are solved in float64 with HiGHS's tolerances (a binary may be fractional by its
``mip_feasibility_tolerance``, 1e-6; a constraint violated by 1e-7); the network the library runs
is float32. So, per example:

* ``"robust"``: proved min m_j > tau for every class j, with tau = ``tol`` (default ``TOL`` =
  1e-4, in logit units) plus the solver's slack for this example: each binary's 1e-6 times its
  big-M and 1e-7 per constraint, carried through |W| to the logits (``_solver_slack``; up to
  1e-4 on an undefended fc2 at eps = 0.1, 3.6e-4 on an undefended fc10 at eps = 0.25, below 1e-5
  on the sparse networks). A float32 forward pass of fc2 or fc10 is within 8e-6 of the float64
  one (measured, on 2,000 test images of each trained network), far below tau.
* ``"broken"``: a counterexample x' is returned that lies in the ball and in [0, 1] (checked in
  float64, exactly) and that the float32 network's own forward pass misclassifies
  (``models.predictions``: ties go to the lower class, a zero logit to class 0). The solver's
  point is put back into the ball in float32; if the network still classifies it correctly, a few
  small sign-gradient steps of the network itself are tried (``NUDGES``). Never "broken" without
  such a checked point.
* ``"clean-wrong"``: the float32 network misclassifies x itself.
* ``"unknown"``: the time limit ran out, the solver failed, or the worst margin lies within tau
  of 0 with no checked counterexample. Never counted as robust.

The fast path
-------------
``exact(..., x_adv=...)`` takes an attack's images. An example whose x_adv, put into the ball and
[0, 1] (a no-op for an attack's output, up to float32 rounding), is misclassified by the float32
network is "broken" with that image as its counterexample, solver time 0: no program is built. On
an undefended network the attacks break most examples, and only the rest need the solver.

The minimal radius
------------------
``minimal_radius`` makes eps a variable r: minimize r subject to |x'_i - x_i| <= r, x' in [0, 1],
the encoding and m_j <= 0. Big-M constants need bounds, so the encoding is built over the ball of
a largest radius R: RADIUS_START, doubled up to ``r_max`` while no point within R is
misclassified, or the distance of a known misclassified point (``x_adv``). The optimum within R
is the global one (any closer point lies inside R too). Theorem 2's radius
(``theory.certified_radius``) is a lower bound of it, the distance of any misclassified point an
upper bound.

Speed
-----
What the default adds to the textbook program, each exact (none changes an answer):

1. Per example, the competing classes in the order of their clean logits, the likeliest to break
   first; the first broken class ends the example.
2. Per class, the margin's interval bound over the variables' box; then the LP relaxation
   (a in [0, 1]), strengthened by the cuts of the ideal formulation of each unit (Anderson et al.
   2020, ``_ideal_cuts``) for a few rounds. A relaxation minimum above tau is a proof: most
   classes are proved there, without branching. Each relaxation's x' is run through the network,
   and often fools it.
3. The last ReLU layer's units whose output can only raise the margin need no binary
   (``_Program.problem``): the convex half of their encoding is exact under a minimization.
4. The MILP asks for m_j <= tau (a cutoff: the solver drops every branch whose relaxation already
   exceeds it; "infeasible" is the proof) and stops at its first solution (HiGHS's
   ``mip_max_improving_sols``): one checked counterexample is all a broken example needs.
5. ``workers`` threads verify examples side by side (HiGHS releases the GIL).

fc2 and fc10 have one hidden layer: its pre-activations are linear in x', so interval arithmetic
gives their exact range over the box and LP bound tightening (``tighten=True``: each unstable
unit's bounds re-derived by two LPs over the relaxation of the layers before it) cannot improve
them. From the second hidden layer on it can, and ``tighten="auto"`` does it there.
``benchmarks/bench_verify.py`` measures all of this.
"""
from __future__ import annotations

import concurrent.futures
import numbers
import queue
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Reshape
from .models import Classifier, Sequential, predictions
from .parallel import replica, single_threaded_blas
from .progress import Progress, check_log, stderr

TOL = 1e-4                    # a proved margin must exceed this (logit units) plus the solver's slack
MIP_FEASIBILITY = 1e-6        # HiGHS's default mip_feasibility_tolerance: how fractional a binary may be
PRIMAL_FEASIBILITY = 1e-7     # HiGHS's default primal_feasibility_tolerance: how far a constraint may be violated
LP_PAD = 1e-6                 # LP-tightened bounds are widened by this (relative to their size, plus 1e-6)
CUT_ROUNDS = 10               # rounds of ideal-formulation cuts on the LP relaxation before the MILP,
CUT_GAIN = 0.25               # stopped early when a round closes less than this share of the gap to tau
NUDGES = (1e-6, 1e-5, 1e-4, 1e-3)     # sign-gradient steps tried when the solver's point does not fool float32
STATUSES = ("robust", "broken", "clean-wrong", "unknown")
RADIUS_STATUSES = ("exact", "beyond", "clean-wrong", "unknown")


# -- interval bounds through every layer ---------------------------------------------------------
def interval_bounds(net, x, eps):
    """Sound bounds of every layer's output over the l-inf ball of radius ``eps`` around each
    image, intersected with [0, 1], by interval arithmetic in float64.

    net : a ``Sequential`` (any of ``layers.LAYERS``; Dropout as at evaluation, the identity), or
    a ``Classifier`` without front end. x : (n, *net.input_shape) images in [0, 1].

    Returns a list of ``len(net.layers) + 1`` pairs (lower, upper), float64: entry 0 is the input
    box, entry k + 1 bounds the output of ``net.layers[k]``. So the pre-activations of a ReLU at
    ``net.layers[k]`` are bounded by entry k. No images (n = 0): arrays with no rows.

    Dense and Conv2D in centre-radius form: the centre goes through the layer, the radius through
    |W| (a Conv2D of the same configuration, in float64, runs both). MaxPool2D and ReLU are
    increasing, so they map the lower bound to the lower bound, the upper to the upper.
    """
    net = _network(net)
    x = _check_images(net, x)
    eps = _check_eps(eps)
    if len(x) == 0:             # no images: empty bounds, shaped by a pass of one image
        return [(lo[:0], hi[:0]) for lo, hi in interval_bounds(net, np.zeros((1,) + net.input_shape), eps)]
    lo, hi = _box(x, eps)
    out = [(lo, hi)]
    for layer in net.layers:
        lo, hi = _layer_bounds(layer, lo, hi)
        out.append((lo, hi))
    return out


def _layer_bounds(layer, lo, hi):
    if isinstance(layer, Dense):
        W, b = (layer.params[k].astype(np.float64) for k in ("W", "b"))
        mid, rad = (lo + hi) / 2, (hi - lo) / 2
        centre, spread = mid @ W + b, rad @ np.abs(W)
        return centre - spread, centre + spread
    if isinstance(layer, Conv2D):
        W, b = (layer.params[k].astype(np.float64) for k in ("W", "b"))
        mid, rad = (lo + hi) / 2, (hi - lo) / 2
        centre = _conv64(layer, W, b).forward(mid)
        spread = _conv64(layer, np.abs(W), np.zeros_like(b)).forward(rad)
        return centre - spread, centre + spread
    if isinstance(layer, (ReLU, MaxPool2D)):
        return _fresh(layer).forward(lo), _fresh(layer).forward(hi)
    if isinstance(layer, Dropout):
        return lo, hi
    if isinstance(layer, Reshape):           # Flatten included
        return _fresh(layer).forward(lo), _fresh(layer).forward(hi)
    raise ValueError(f"interval_bounds has no rule for a {type(layer).__name__} layer")


def _conv64(layer, W, b):
    """A float64 Conv2D of ``layer``'s configuration holding W and b (the user's layer, its
    buffers and its stored input are left alone)."""
    conv = Conv2D(layer.in_channels, layer.out_channels, layer.kernel_size, layer.padding, dtype=np.float64)
    conv.params = {"W": W, "b": b}
    return conv


def _fresh(layer):
    """A new layer of the same kind and configuration: its forward keeps its own state."""
    return type(layer)(**layer.config())


# -- the networks the MILP encodes -----------------------------------------------------------------
ENCODED = (Dense, ReLU, Flatten, Reshape, Dropout)


def _network(net):
    """The Sequential inside ``net``: a Sequential itself, or a Classifier without front end."""
    if isinstance(net, Classifier):
        if net.frontend is not None:
            raise ValueError("net: a Classifier with a front end; the front end (the top-K sparsifier) is not "
                             "encoded: pass clf.net to verify the network alone")
        net = net.net
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a Sequential network or a Classifier, got {type(net).__name__}")
    return net


def _steps(net):
    """The network as the MILP sees it: a list of ("dense", W, b) and ("relu",), float64.
    Flatten, Reshape and Dropout (at evaluation) do nothing to a flat vector and vanish."""
    bad = [f"{type(l).__name__} (layer {i})" for i, l in enumerate(net.layers) if not isinstance(l, ENCODED)]
    if bad:
        raise ValueError(f"net: verify encodes networks of Dense, ReLU, Flatten, Reshape and Dropout layers; "
                         f"{net.arch} has {', '.join(bad)}, which {'is' if len(bad) == 1 else 'are'} not encoded")
    if not net.weighted:
        raise ValueError(f"net: {net.arch} has no Dense layer")
    steps = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            steps.append(("dense", layer.params["W"].astype(np.float64), layer.params["b"].astype(np.float64)))
        elif isinstance(layer, ReLU):
            steps.append(("relu",))
    return steps


def _pre_activation_bounds(steps, lo, hi):
    """Interval bounds (lower, upper), float64 (n, units), of every ReLU's input, for the batch
    of boxes lo, hi (n, n_in): ``interval_bounds`` on the flat steps."""
    out = []
    for step in steps:
        if step[0] == "dense":
            _, W, b = step
            centre, spread = (lo + hi) / 2 @ W + b, (hi - lo) / 2 @ np.abs(W)
            lo, hi = centre - spread, centre + spread
        else:
            out.append((lo, hi))
            lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
    return out


# -- one example's program ------------------------------------------------------------------------
class _Program:
    """The big-M encoding (module docstring) over one box lo <= x' <= hi, in two parts.

    Once per example: the input x' and every ReLU layer but the last. Variables v: x' (n_in),
    [r, with ``radius``: see ``minimal_radius``], then for each such layer its unstable units'
    outputs z and binaries a. ``rows`` holds the constraint blocks, ``lb``, ``ub``, ``integer`` the
    variables' bounds and kinds. ``pre[k]`` = (l, u), ReLU layer k's input bounds as used.

    Per margin (``problem``): the last ReLU layer. Its outputs reach the logits linearly, so the
    margin is m = sum_i w_i z_i + (linear in v). A unit with w_i > 0 can only raise m by being on:
    minimizing m (or asking m <= something) pushes z_i down onto max(0, zhat_i), so the convex half
    of its encoding, z >= zhat, z >= 0, is exact and it needs no binary. Only the units with
    w_i < 0 get a and the two upper constraints; units with w_i = 0 vanish. (The plain version,
    a binary for every unstable unit, is ``problem(..., plain=True)``, what the tests compare with.)

    ``tighten``: True re-derives every unstable unit's bounds by two LPs (min and max of zhat over
    the relaxation built so far); "auto" does so from the second ReLU layer on (the first layer's
    interval bounds are exact: zhat is linear in x' and the box is a product).
    """

    def __init__(self, steps, lo, hi, pre, tighten="auto", centre=None, radius=None):
        n_in = lo.size
        self.lb, self.ub, self.integer = [lo.astype(np.float64)], [hi.astype(np.float64)], [np.zeros(n_in)]
        self.n, self.rows, self.pre, self.binaries = n_in, [], [], 0
        self.units = []         # (E, e, z0, a0) per block of units with binaries: zhat = E v + e
        if centre is not None:      # r >= |x'_i - x_i|:  x' - r <= x,  x' + r >= x
            r = self._add_variables(np.zeros(1), np.full(1, radius), integer=False)
            column = sparse.csr_matrix(np.ones((n_in, 1)))
            eye = sparse.identity(n_in, format="csr")
            self.rows.append((sparse.hstack([eye, -column]), np.full(n_in, -np.inf), centre))
            self.rows.append((sparse.hstack([eye, column]), centre, np.full(n_in, np.inf)))
            self.r = r
        A, c = None, np.zeros(n_in)            # the current vector is A v + c; None: A is x' itself
        last = max([k for k, step in enumerate(steps) if step[0] == "relu"], default=-1)
        relu = 0
        for k, step in enumerate(steps):
            if step[0] == "dense":
                _, W, b = step
                A = W.T.copy() if A is None else W.T @ A
                c = c @ W + b
                continue
            if A is None:                       # a ReLU on the input itself
                A = np.eye(n_in)
            l, u = pre[relu]
            if tighten is True or (tighten == "auto" and relu > 0):
                l, u = self._tighten(A, c, l, u)
            self.pre.append((l, u))
            relu += 1
            if k == last:
                self.last = (self._pad(A), c, l, u)
                A, c = np.eye(len(c)), np.zeros(len(c))      # from here on: the logits as A z + c
            else:
                A, c = self._relu(A, c, l, u)
        if last < 0:
            self.last = None
            A = np.eye(n_in) if A is None else A
            self.out = (self._pad(A), c)        # the logits as A v + c
        else:
            self.out = (A, c)                   # the logits as A z + c, z the last ReLU layer's output

    # -- building ----------------------------------------------------------------------------
    def _pad(self, A, n=None):
        """A with zero columns for the variables added after it was made."""
        n = self.n if n is None else n
        return A if A.shape[1] == n else np.hstack([A, np.zeros((len(A), n - A.shape[1]))])

    def _add_variables(self, lb, ub, integer):
        first = self.n
        self.lb.append(lb), self.ub.append(ub), self.integer.append(np.full(len(lb), float(integer)))
        self.n += len(lb)
        return first

    @staticmethod
    def _relu_rows(E, e, l, u, z0, a0, n):
        """The constraint blocks of z = max(0, E v + e) for units with outputs z at columns z0...
        and binaries at a0... (a0 None: only the convex half), in a program of n columns."""
        k = len(e)
        E = _widen(E, n)
        z = sparse.csr_matrix((np.ones(k), (np.arange(k), z0 + np.arange(k))), shape=(k, n))
        rows = [(z - E, e, np.full(k, np.inf))]                                   # z >= zhat
        if a0 is not None:
            a = sparse.csr_matrix((np.ones(k), (np.arange(k), a0 + np.arange(k))), shape=(k, n))
            rows.append((z - E - sparse.diags(l) @ a, np.full(k, -np.inf), e - l))  # z <= zhat - l (1 - a)
            rows.append((z - sparse.diags(u) @ a, np.full(k, -np.inf), np.zeros(k)))        # z <= u a
        return rows                                            # z >= 0 and z <= u: the variable's bounds

    def _relu(self, A, c, l, u):
        """Encode z = max(0, A v + c) given l <= A v + c <= u: the four constraints for each
        unstable unit, nothing for a stable one. Returns the affine form of z."""
        A = self._pad(A)
        on, unstable = l >= 0, (l < 0) & (u > 0)
        k = int(unstable.sum())
        out_A, out_c = np.where(on[:, None], A, 0.0), np.where(on, c, 0.0)
        if k == 0:
            return out_A, out_c
        z0 = self._add_variables(np.zeros(k), u[unstable], integer=False)
        a0 = self._add_variables(np.zeros(k), np.ones(k), integer=True)
        self.rows += self._relu_rows(A[unstable], c[unstable], l[unstable], u[unstable], z0, a0, self.n)
        self.units.append((A[unstable], c[unstable], z0, a0))
        self.binaries += k
        out_A = self._pad(out_A)
        out_A[np.flatnonzero(unstable), z0 + np.arange(k)] = 1.0
        return out_A, out_c

    def _tighten(self, A, c, l, u):
        """Bounds of the unstable units of A v + c by LP over the relaxation built so far
        (binaries in [0, 1]), widened by LP_PAD."""
        l, u = l.copy(), u.copy()
        A = self._pad(A)
        constraints, bounds = self._constraints(self.rows, self.n), Bounds(*self._bounds())
        for i in np.flatnonzero((l < 0) & (u > 0)):
            low = _lp(A[i], constraints, bounds)
            if low is not None:
                l[i] = max(l[i], low + c[i] - LP_PAD * (1 + abs(low + c[i])))
            high = _lp(-A[i], constraints, bounds)
            if high is not None:
                u[i] = min(u[i], -high + c[i] + LP_PAD * (1 + abs(high - c[i])))
        return l, u

    def _bounds(self, lb=(), ub=()):
        return np.concatenate(self.lb + list(lb)), np.concatenate(self.ub + list(ub))

    @staticmethod
    def _constraints(rows, n):
        if not rows:
            return []
        return [LinearConstraint(sparse.vstack([_widen(m, n) for m, _, _ in rows], format="csr"),
                                 np.concatenate([lo for _, lo, _ in rows]),
                                 np.concatenate([hi for _, _, hi in rows]))]

    # -- one margin's problem ------------------------------------------------------------------------
    def weights(self, t, j):
        """(w, w0): the margin as w . z + w0 with z the last ReLU layer's output (or x' when the
        network has no ReLU). Binary (one logit, j None): the logit pushed towards class t."""
        A, c = self.out
        if j is None:
            s = 1.0 if t == 1 else -1.0
            return s * A[0], s * c[0]
        return A[t] - A[j], c[t] - c[j]

    def problem(self, t, j, plain=False):
        """The program of the margin m = y_t - y_j (j None: one logit): a dict with the objective
        ``g`` and constant ``g0`` (m = g . v + g0), ``lb``, ``ub``, ``integrality``, ``rows`` (the
        constraint blocks) and ``binaries``."""
        w, w0 = self.weights(t, j)
        if self.last is None:
            g = w                                                  # the logits are linear in v
            return dict(g=self._pad(g[None])[0], g0=w0, lb=np.concatenate(self.lb), ub=np.concatenate(self.ub),
                        integrality=np.concatenate(self.integer), rows=list(self.rows), binaries=self.binaries,
                        units=list(self.units))
        A, c, l, u = self.last
        on, unstable = (l >= 0) & (w != 0), (l < 0) & (u > 0) & (w != 0)
        exact = unstable & (w < 0) if not plain else unstable     # the units that need a binary
        half = unstable & ~exact                                  # the convex half alone
        kz, ka = int(unstable.sum()), int(exact.sum())
        n = self.n + kz + ka
        g = np.zeros(n)
        g[:self.n] = w[on] @ A[on]
        g0 = w0 + w[on] @ c[on]
        rows = list(self.rows)
        # the units' outputs: first those with a binary, then the others; then the binaries
        order = np.concatenate([np.flatnonzero(exact), np.flatnonzero(half)])
        g[self.n + np.arange(kz)] = w[order]
        z0, a0 = self.n, self.n + kz
        units = list(self.units)
        if ka:
            rows += self._relu_rows(A[exact], c[exact], l[exact], u[exact], z0, a0, n)
            units.append((A[exact], c[exact], z0, a0))
        if kz > ka:
            rows += self._relu_rows(A[half], c[half], l[half], u[half], z0 + ka, None, n)
        lb, ub = self._bounds([np.zeros(kz), np.zeros(ka)], [u[order], np.ones(ka)])
        integrality = np.concatenate(self.integer + [np.zeros(kz), np.ones(ka)])
        return dict(g=g, g0=g0, lb=lb, ub=ub, integrality=integrality, rows=rows, binaries=self.binaries + ka,
                    units=units)


def _widen(m, n):
    """Sparse m with zero columns up to n."""
    m = sparse.csr_matrix(m)
    return m if m.shape[1] == n else sparse.hstack([m, sparse.csr_matrix((m.shape[0], n - m.shape[1]))], format="csr")


def _lp(objective, constraints, bounds):
    """min objective . v over the relaxation (binaries in [0, 1]); None if the LP fails."""
    res = milp(objective, constraints=constraints, bounds=bounds)
    return float(res.fun) if res.status == 0 else None


def _ideal_cuts(p, v, tol=1e-6):
    """The cuts of the ideal formulation that the relaxation's point v violates.

    Anderson, Huchette, Ma, Tjandraatmadja & Vielma (2020), *Strong mixed-integer programming
    formulations for trained neural networks*: for one unit z = max(0, w . x + b) with x in a box
    and its binary a, the convex hull of {(x, z, a)} is, besides z >= w . x + b and z >= 0,

        z <= sum_{i in I} w_i (x_i - Lc_i (1 - a)) + (b + sum_{i not in I} w_i Uc_i) a   for every I,

    with Lc_i, Uc_i the ends of x_i's interval where w_i x_i is smallest, largest. I = everything
    and I = nothing are the big-M pair; the others cut the relaxation down to the hull. For the
    point v the tightest I takes each i where w_i (x_i - Lc_i (1 - a)) < w_i Uc_i a, one pass.
    Here x is whatever the unit's zhat = E v + e reads (the input, earlier units' outputs) and
    its box the variables' bounds. Returns constraint blocks for ``p["rows"]``, or [] if none.
    """
    lb, ub, n = p["lb"], p["ub"], len(p["lb"])
    out = []
    for E, e, z0, a0 in p["units"]:
        m = E.shape[1]
        low = np.where(E >= 0, lb[:m], ub[:m])                # Lc per unit and input
        high = np.where(E >= 0, ub[:m], lb[:m])               # Uc
        a, z = v[a0:a0 + len(e)], v[z0:z0 + len(e)]
        left = E * (v[:m] - low * (1 - a[:, None]))
        right = E * high * a[:, None]
        inside = left < right                                  # I, per unit
        violated = z > e * a + np.where(inside, left, right).sum(axis=1) + tol
        if not violated.any():
            continue
        k = np.flatnonzero(violated)
        # z - sum_I w_i x_i - (sum_I w_i Lc_i + b + sum_{not I} w_i Uc_i) a <= -sum_I w_i Lc_i
        EI, EL, EU = E[k] * inside[k], (E * low)[k], (E * high)[k]
        in_low = (EL * inside[k]).sum(axis=1)
        coef_a = in_low + e[k] + (EU * ~inside[k]).sum(axis=1)
        rows = sparse.hstack([sparse.csr_matrix(-EI), sparse.csr_matrix((len(k), n - m))], format="csr")
        rows = rows + sparse.csr_matrix((np.concatenate([np.ones(len(k)), -coef_a]),
                                         (np.tile(np.arange(len(k)), 2), np.concatenate([z0 + k, a0 + k]))),
                                        shape=(len(k), n))
        out.append((rows, np.full(len(k), -np.inf), -in_low))
    return out


def _relaxation(p, objective, offset, target, rounds, on_point=None, deadline=np.inf):
    """The LP relaxation of problem p (binaries in [0, 1]): min objective . v + offset,
    strengthened by ``_ideal_cuts`` for up to ``rounds`` rounds (0: the LP alone).

    Stops when the bound exceeds ``target`` (for ``exact``, tau: a proof, since the relaxation
    contains every point of the network's graph), when no cut is violated, or when a round
    closes less than CUT_GAIN of the remaining gap to target (of the bound itself when the target
    is inf): the rounds are tailing off. ``on_point(v)`` sees each relaxation's point (a candidate
    counterexample) and may stop the loop by returning True. No LP starts after ``deadline``
    (``time.perf_counter``). Returns (lower bound, the first round's cuts); the bound is inf when
    the relaxation is infeasible, -inf when no LP was solved.

    Only the first round's cuts go on to the MILP: its branch and bound, measured on the hardest
    fc10 examples, ran about 40% faster with them than with none, and about twice as fast as with
    every round's (each cut is a dense row, and every node's LP carries it).
    """
    n, cuts, first, bound = len(p["lb"]), [], [], -np.inf
    bounds = Bounds(p["lb"], p["ub"])
    for k in range(rounds + 1):
        if time.perf_counter() > deadline:
            break
        res = milp(objective, constraints=_Program._constraints(p["rows"] + cuts, n), bounds=bounds)
        if res.status == 2:
            return np.inf, first
        if res.status != 0:
            break
        before, bound = bound, max(bound, res.fun + offset)
        if bound > target or (on_point is not None and on_point(res.x)):
            break
        gap = target - before if np.isfinite(target) else abs(bound)
        if k == rounds or (cuts and bound - before < CUT_GAIN * gap):
            break
        new = _ideal_cuts(p, res.x)
        if not new:
            break
        first = first or new
        cuts += new
    return bound, first


def _solver_slack(steps, pre):
    """How far the MILP's logits may be from the network's at the MILP's own point, given HiGHS's
    tolerances: every unstable unit's z may be off by MIP_FEASIBILITY max(-l, u) (a binary
    fractional by 1e-6 in z <= u a or z <= zhat - l (1 - a)) plus PRIMAL_FEASIBILITY, the input by
    PRIMAL_FEASIBILITY; errors are carried to the logits through |W|. Returns the bound on a
    margin's error: twice the largest logit's (once for one logit)."""
    err, relu = None, 0
    for step in steps:
        if step[0] == "dense":
            _, W, _ = step
            if err is None:
                err = np.full(W.shape[0], PRIMAL_FEASIBILITY)
            err = err @ np.abs(W)
        else:
            l, u = pre[relu]
            if err is None:
                err = np.full(len(l), PRIMAL_FEASIBILITY)
            unstable = (l < 0) & (u > 0)
            err = np.where(u <= 0, 0.0, err) + unstable * (MIP_FEASIBILITY * np.maximum(-l, u) + PRIMAL_FEASIBILITY)
            relu += 1
    return float(err.max() * (1 if len(err) == 1 else 2))


# -- inputs ---------------------------------------------------------------------------------------
def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _check_images(net, x, name="x"):
    x = np.asarray(x)
    shape = ", ".join(map(str, net.input_shape))
    if x.ndim != len(net.input_shape) + 1 or x.shape[1:] != net.input_shape:
        raise ValueError(f"{name} must have shape (n, {shape}) (a batch of images), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite floating-point images")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
    return x


def _check_labels(net, y, n):
    y = np.asarray(y)
    classes = max(net.n_logits, 2)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match x, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= classes)):
        raise ValueError(f"y must hold integer labels in [0, {classes - 1}]")
    return y.astype(np.int64)


def _check_eps(eps, name="eps"):
    if not _is_real(eps) or not np.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {eps!r}")
    return float(eps)


def _check_positive(name, value):
    if not _is_real(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (seconds), got {value!r}")
    return float(value)


def _check_adversarial(x_adv, x):
    """x_adv as an array of x's shape, finite floating point (its range is not checked: it is put
    into the ball and [0, 1] before use), or None."""
    if x_adv is None:
        return None
    x_adv = np.asarray(x_adv)
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x, {x.shape}, got {x_adv.shape}")
    if not np.issubdtype(x_adv.dtype, np.floating) or not np.isfinite(x_adv).all():
        raise ValueError("x_adv must be finite floating-point images")
    return x_adv


def _check_workers(workers):
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    return int(workers)


def _check_tighten(tighten):
    if tighten not in (True, False, "auto"):
        raise ValueError(f"tighten must be True, False or 'auto', got {tighten!r}")
    return tighten


# -- the ball, the float32 network, counterexamples -----------------------------------------------
def _box(x, eps):
    """The ball of radius eps around x, intersected with [0, 1], in float64: (lower, upper)."""
    x = x.astype(np.float64)
    return np.maximum(x - eps, 0.0), np.minimum(x + eps, 1.0)


def _into_box(points, lo, hi, dtype):
    """``points`` clipped into [lo, hi] and rounded to ``dtype``; a value that rounding puts just
    outside (by half a unit in the last place) is moved one representable number inward. x itself
    is representable and lies in [lo, hi], so the result does (checked exactly, in float64)."""
    q = np.clip(np.asarray(points, np.float64), lo, hi).astype(dtype)
    q = np.where(q < lo, np.nextafter(q, dtype.type(np.inf)), q)
    q = np.where(q > hi, np.nextafter(q, dtype.type(-np.inf)), q)
    return q.astype(dtype, copy=False)


def _margins(logits, y):
    """The worst margin per example, float64: min_{j != t} y_t - y_j; one logit: the logit
    pushed towards the true class (> 0 correct; 0 is class 0)."""
    z = logits.astype(np.float64)
    if z.shape[1] == 1:
        return np.where(y == 1, z[:, 0], -z[:, 0])
    rows = np.arange(len(y))
    others = z.copy()
    others[rows, y] = -np.inf
    return z[rows, y] - others.max(axis=1)


def _forward(net, x, batch_size=1000):
    return np.concatenate([net.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
                          or [np.zeros((0, net.n_logits), net.dtype)])


def _fools(net, q, t):
    """Whether the network's own forward pass misclassifies the one image q."""
    return bool(predictions(net.forward(q[None]))[0] != t)


def _confirm(net, point, t, j, lo, hi):
    """A counterexample near the solver's ``point`` that the network itself misclassifies, or
    None: the point put into the box in the network's dtype, then small sign-gradient steps
    (``NUDGES``) against the margin y_t - y_j (one logit: against the true class)."""
    q = _into_box(point.reshape(lo.shape), lo, hi, net.dtype)
    if _fools(net, q, t):
        return q
    seed = np.zeros((1, net.n_logits), net.dtype)
    if j is None:
        seed[0, 0] = 1.0 if t == 1 else -1.0
    else:
        seed[0, t], seed[0, j] = 1.0, -1.0
    for step in NUDGES:
        net.forward(q[None])
        direction = np.sign(net.backward(seed, param_grads=False)[0])
        candidate = _into_box(q - step * direction, lo, hi, net.dtype)
        if _fools(net, candidate, t):
            return candidate
    return None


# -- examples side by side -----------------------------------------------------------------------
def _each(fn, jobs, net, workers):
    """(i, fn(net, *args)) for every job (i, args), in the order they finish: on ``workers``
    threads, each with its own replica of ``net`` (``parallel.replica``: the same weights, its
    own forward state), since a program's counterexamples are checked by forward passes. HiGHS
    releases the GIL while it solves, so the threads share the cores."""
    if workers < 2 or len(jobs) < 2:
        for i, args in jobs:
            yield i, fn(net, *args)
        return
    free = queue.SimpleQueue()
    for copy in [net] + [replica(net) for _ in range(min(workers, len(jobs)) - 1)]:
        free.put(copy)

    def run(args):
        own = free.get()
        try:
            return fn(own, *args)
        finally:
            free.put(own)
    with single_threaded_blas(), concurrent.futures.ThreadPoolExecutor(min(workers, len(jobs))) as pool:
        futures = {pool.submit(run, args): i for i, args in jobs}
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()


# -- results -----------------------------------------------------------------------------------------
@dataclass
class Verification:
    """What ``exact`` found, per example (arrays of length n).

    ``status``: "robust" (proved), "broken" (with a checked counterexample), "clean-wrong" or
    "unknown" (see the module docstring). ``counterexamples``: per example the image (the
    network's dtype, in the ball and [0, 1], misclassified by the network) or None.
    ``seconds``: solver time (0 for the fast path and for clean-wrong examples). ``lower``: a
    proved lower bound of the worst margin over the ball (tau for a robust example: the proof is
    that every margin exceeds it; the solver's bound at a time limit; NaN if none). ``upper``:
    the worst margin the network itself shows at a known point (the clean image, or the
    counterexample). ``tol``: tau, the margin a proof had to exceed. ``binaries``: the binary
    variables of the example's largest program (-1 when no program was built). ``detail``: a few words on how each status
    was reached ("fast path", "time limit", "within tolerance"...).
    """
    eps: float
    status: np.ndarray
    counterexamples: list
    seconds: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    tol: np.ndarray
    binaries: np.ndarray
    detail: list = field(default_factory=list)

    @property
    def n(self):
        return len(self.status)

    @property
    def counts(self):
        """{status: number of examples}, every status present."""
        return {s: int(np.sum(self.status == s)) for s in STATUSES}

    @property
    def robust(self):
        """Boolean mask of the examples proved robust."""
        return self.status == "robust"

    @property
    def robust_accuracy(self):
        """Share of the examples proved robust (clean-wrong, broken and unknown are not); NaN
        for no examples."""
        return float(np.mean(self.robust)) if self.n else float("nan")

    @property
    def robust_upper(self):
        """Share robust or unknown: the most any attack could leave standing."""
        return float(np.mean(self.robust | (self.status == "unknown"))) if self.n else float("nan")

    def summary(self):
        c = self.counts
        solved = self.seconds[self.binaries >= 0]
        times = f"; solver {self.seconds.sum():.1f}s" + (f" (median {np.median(solved):.2f}s per program)"
                                                          if len(solved) else "")
        return (f"exact at eps = {self.eps:g} on {self.n} examples: robust accuracy "
                f"{100 * self.robust_accuracy:.2f}% (at most {100 * self.robust_upper:.2f}%); "
                f"{c['robust']} robust, {c['broken']} broken, {c['clean-wrong']} clean-wrong, "
                f"{c['unknown']} unknown" + times)


@dataclass
class MinimalRadius:
    """What ``minimal_radius`` found, per example (arrays of length n).

    ``status``: "exact" (solved; ``radius`` is the solver's optimum), "beyond" (no misclassified
    point within ``r_max``: radius inf; with r_max >= 1 none anywhere in [0, 1]), "clean-wrong"
    (radius 0) or "unknown" (time limit or no checked counterexample: see ``lower``, ``upper``).
    ``lower`` <= true radius <= ``upper``; ``upper`` is the l-inf distance of ``counterexamples``
    (a point the network itself misclassifies; inf if none). ``seconds``: solver time.
    """
    status: np.ndarray
    radius: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    counterexamples: list
    seconds: np.ndarray
    r_max: float
    detail: list = field(default_factory=list)

    @property
    def n(self):
        return len(self.status)

    @property
    def counts(self):
        return {s: int(np.sum(self.status == s)) for s in RADIUS_STATUSES}

    def summary(self):
        c = self.counts
        solved = self.radius[self.status == "exact"]
        median = f", median radius {np.median(solved):.4g}" if len(solved) else ""
        return (f"minimal radius on {self.n} examples: {c['exact']} exact, {c['beyond']} beyond r_max = "
                f"{self.r_max:g}, {c['clean-wrong']} clean-wrong, {c['unknown']} unknown{median}; "
                f"solver {self.seconds.sum():.1f}s")


# -- exact robustness at a given eps ------------------------------------------------------------
def exact(net, x, y, eps, time_limit=60.0, x_adv=None, tol=TOL, tighten="auto", cuts=True, plain=False,
          workers=1, log=stderr):
    """Exact robustness of every example at l-inf radius ``eps``: a MILP per example.

    net : a ``Sequential`` of Dense, ReLU, Flatten, Reshape and Dropout layers (fc2, fc10, ...),
    or a ``Classifier`` without front end; anything else is a ``ValueError`` naming what is not
    encoded. x : (n, *input_shape) images in [0, 1] (a batch, as the attacks take; n = 0 gives
    an empty result). y : (n,) integer labels. eps : the l-inf radius (images in [0, 1]).
    time_limit : wall seconds per example (all its classes together); past it the example is
    "unknown" (threads sharing a core, or a busy machine, stretch every example's wall time). x_adv : optional (n, *input_shape) images, e.g. an attack's: the fast path (module
    docstring), an example they break needs no program. tol : the margin (logit units) a proof
    must exceed, beyond the solver's slack. tighten : LP bound tightening, True, False or "auto"
    (module docstring, Speed). cuts : the ideal-formulation cuts (False: the relaxation is the
    big-M one alone). plain : the textbook program instead of the fast one (for teaching and
    comparison; far slower). workers : threads, each verifying one example at a time (2 uses
    both cores of a 2-core machine); the answers do not depend on it. log : progress lines
    (examples done, proved, broken, unknown, ETA), None for silence.

    Examples are independent: a caller may also split x and merge the results.

    Returns a ``Verification``.
    """
    net = _network(net)
    steps = _steps(net)
    x = _check_images(net, x)
    y = _check_labels(net, y, len(x))
    eps = _check_eps(eps)
    time_limit = _check_positive("time_limit", time_limit)
    tol = _check_eps(tol, "tol")
    x_adv = _check_adversarial(x_adv, x)
    tighten = _check_tighten(tighten)
    workers = _check_workers(workers)
    log = check_log(log)
    n = len(x)
    status = np.full(n, "unknown", dtype=object)
    counterexamples, detail = [None] * n, [""] * n
    seconds, lower, taus = np.zeros(n), np.full(n, np.nan), np.full(n, np.nan)
    binaries = np.full(n, -1)
    clean = _forward(net, x)
    upper = _margins(clean, y)
    clean_wrong = predictions(clean) != y
    status[clean_wrong] = "clean-wrong"
    lo, hi = _box(x, eps)
    if x_adv is not None and n:
        q = _into_box(x_adv, lo, hi, net.dtype)
        logits = _forward(net, q)
        fooled = (predictions(logits) != y) & ~clean_wrong
        for i in np.flatnonzero(fooled):
            status[i], counterexamples[i], detail[i] = "broken", q[i], "fast path"
        upper[fooled] = _margins(logits[fooled], y[fooled])
    todo = np.flatnonzero(status == "unknown")
    size = int(np.prod(net.input_shape))
    pre = _pre_activation_bounds(steps, lo[todo].reshape(len(todo), size), hi[todo].reshape(len(todo), size))
    report = Progress(f"verify (eps = {eps:g})", n, log, unit="examples")
    jobs = [(i, (steps, y[i], lo[i], hi[i], [(l[k], u[k]) for l, u in pre], clean[i], time_limit, tol, tighten,
                 cuts, plain)) for k, i in enumerate(todo)]
    for done, (i, one) in enumerate(_each(_exact_one, jobs, net, workers), start=n - len(todo) + 1):
        status[i], counterexamples[i], detail[i] = one["status"], one["counterexample"], one["detail"]
        seconds[i], lower[i], taus[i], binaries[i] = one["seconds"], one["lower"], one["tau"], one["binaries"]
        if one["counterexample"] is not None:
            upper[i] = one["margin"]
        pending = n - done                    # examples still to come, counted as "unknown" so far
        report.update(done, f"{np.sum(status == 'robust')} proved, {np.sum(status == 'broken')} broken, "
                            f"{np.sum(status == 'unknown') - pending} unknown")
    result = Verification(eps, status, counterexamples, seconds, lower, upper, taus, binaries, detail)
    report.finish(result.summary())
    return result


def _competitors(t, clean_logits):
    """The classes to beat t, the likeliest to break first (highest clean logit); [None] for
    one logit."""
    if len(clean_logits) == 1:
        return [None]
    return [int(j) for j in np.argsort(-clean_logits.astype(np.float64), kind="stable") if j != t]


def _exact_one(net, steps, t, lo, hi, pre, clean_logits, time_limit, tol, tighten, cuts, plain=False):
    """One example's programs (module docstring). Returns a dict of its result fields."""
    start = time.perf_counter()
    program = _Program(steps, lo.ravel(), hi.ravel(), pre, tighten)
    tau = tol + _solver_slack(steps, program.pre)
    out = {"status": "robust", "counterexample": None, "detail": "proved", "tau": tau, "binaries": 0}
    if plain:
        return _plain_one(net, program, t, lo, hi, clean_logits, time_limit, start, out)
    lowest, reasons = np.inf, []
    for j in _competitors(t, clean_logits):
        p = program.problem(t, j)
        g, g0 = p["g"], p["g0"]
        out["binaries"] = max(out["binaries"], p["binaries"])
        found = []

        def fooled(v):            # the relaxation's x' may already fool the network: then stop
            q = _into_box(v[:lo.size].reshape(lo.shape), lo, hi, net.dtype)
            if _fools(net, q, t):
                found.append(q)
            return bool(found)

        # The margin's interval bound over the variables' box, then the strengthened LP
        # relaxation: a class either clears needs no MILP.
        bound = g0 + np.minimum(g * p["lb"], g * p["ub"]).sum()
        if bound <= tau:
            bound, extra = _relaxation(p, g, g0, tau, CUT_ROUNDS if cuts else 0, fooled, start + time_limit)
            p = dict(p, rows=p["rows"] + extra)
        if found:
            return _broken(net, t, out, found[0], j, start)
        if bound > tau:
            lowest = min(lowest, bound)
            continue
        cutoff = (sparse.csr_matrix(g[None]), np.array([-np.inf]), np.array([tau - g0]))   # m_j <= tau
        res, point = None, None
        # First stop at the first solution (a broken example needs only one); if it does not fool
        # the network, minimize the margin to the end.
        for first in (True, False):
            remaining = time_limit - (time.perf_counter() - start)
            if remaining <= 0:
                break
            res = _solve(p, [cutoff], g, remaining, first)
            if res.x is None or res.status == 0:
                break
            point = _confirm(net, res.x[:lo.size], t, j, lo, hi)
            if point is not None:
                break
        if res is None:
            reasons.append("time limit")
            lowest = min(lowest, bound)
            break
        if res.status == 2:                          # infeasible: m_j > tau on the whole ball
            lowest = min(lowest, tau)
            continue
        if res.x is not None and point is None:
            point = _confirm(net, res.x[:lo.size], t, j, lo, hi)
        if point is not None:
            return _broken(net, t, out, point, j, start)
        if res.x is not None:
            m = float(g @ res.x + g0)
            reasons.append(f"margin {m:.3g} within tolerance" if m > -tau
                           else f"the solver's point (margin {m:.3g}) does not fool the network")
        else:
            reasons.append("time limit" if res.status == 1 else f"solver: {res.message}")
        dual = res.mip_dual_bound                    # min m_j >= min(dual, tau)
        lowest = min(lowest, tau, max(bound, dual + g0) if dual is not None and np.isfinite(dual) else bound)
    if reasons:
        out["status"], out["detail"] = "unknown", "; ".join(reasons)
    out["lower"] = lowest if np.isfinite(lowest) else np.nan
    out["seconds"] = time.perf_counter() - start
    return out


def _plain_one(net, program, t, lo, hi, clean_logits, time_limit, start, out):
    """The textbook version of ``_exact_one``: per class, the big-M program with a binary for
    every unstable unit, the margin minimized to optimality by the MILP solver alone."""
    tau, lowest, reasons = out["tau"], np.inf, []
    for j in _competitors(t, clean_logits):
        p = program.problem(t, j, plain=True)
        out["binaries"] = max(out["binaries"], p["binaries"])
        remaining = time_limit - (time.perf_counter() - start)
        res = _solve(p, [], p["g"], remaining) if remaining > 0 else None
        if res is None or res.status != 0:
            reasons.append("time limit" if res is None or res.status == 1 else f"solver: {res.message}")
            continue
        m = res.fun + p["g0"]
        proved = res.mip_dual_bound + p["g0"] if res.mip_dual_bound is not None else m    # within the gap
        lowest = min(lowest, proved)
        if proved > tau:
            continue
        point = _confirm(net, res.x[:lo.size], t, j, lo, hi)
        if point is not None:
            return _broken(net, t, out, point, j, start)
        reasons.append(f"margin {m:.3g} within tolerance" if m > -tau
                       else f"the solver's point (margin {m:.3g}) does not fool the network")
    if reasons:
        out["status"], out["detail"] = "unknown", "; ".join(reasons)
    out["lower"] = lowest if np.isfinite(lowest) else np.nan
    out["seconds"] = time.perf_counter() - start
    return out


def _broken(net, t, out, point, j, start):
    out.update(status="broken", counterexample=point, lower=np.nan, seconds=time.perf_counter() - start,
               detail="solver" + (f" (class {j})" if j is not None else ""),
               margin=float(_margins(net.forward(point[None]), np.array([t]))[0]))
    return out


def _solve(p, extra_rows, objective, time_limit, first_solution=False, gap=None):
    """scipy's milp (HiGHS) on problem ``p`` with ``extra_rows``. ``first_solution``: stop at the
    first feasible point (HiGHS's mip_max_improving_sols = 1, an option scipy passes on verbatim,
    with a warning that is silenced here)."""
    n = len(p["lb"])
    options = {"time_limit": time_limit}
    if first_solution:
        options["mip_max_improving_sols"] = 1
    if gap is not None:
        options["mip_rel_gap"] = gap
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
        return milp(objective, integrality=p["integrality"], bounds=Bounds(p["lb"], p["ub"]),
                    constraints=_Program._constraints(p["rows"] + list(extra_rows), n), options=options)


# -- the minimal radius ----------------------------------------------------------------------------
RADIUS_START = 0.05           # the first largest radius R tried; doubled while nothing is found within it
RADIUS_GAP = 1e-4             # HiGHS's relative gap for the radius (lower and upper bounds this close)


def minimal_radius(net, x, y, r_max=1.0, x_adv=None, time_limit=60.0, cuts=True, workers=1, log=stderr):
    """The exact smallest l-inf distance from each x to a point of [0, 1] the network misclassifies.

    A MILP per example and competing class (module docstring): minimize r subject to
    |x'_i - x_i| <= r, x' in [0, 1], the encoding and m_j <= 0, classes in the order of their
    clean logits, each asked only for points closer than the best so far. Big-M constants need a
    largest radius R: the encoding is built over the ball of radius R = RADIUS_START, doubled (up
    to ``r_max``) while nothing is misclassified within it; the optimum found within R is the
    global one. With ``x_adv`` (optional images of x's shape, e.g. an attack's), an example whose
    x_adv, clipped to [0, 1], fools the network starts from R = its distance instead.

    net, x, y, time_limit, cuts, workers, log: as ``exact``. r_max: the largest radius searched
    (1: all of [0, 1]). Returns a ``MinimalRadius``: per example ``lower`` <= ``radius`` <= ``upper``,
    the distance of a point the network itself misclassifies (its ``counterexamples``), and
    ``theory.certified_radius(net, x, y)`` <= ``radius`` (Theorem 2 is a lower bound). ``radius`` is exact to
    HiGHS's relative gap (RADIUS_GAP) and tolerances. Far costlier than ``exact`` at one eps on
    an undefended network: the optimum must be proved, not merely a point found.
    """
    net = _network(net)
    steps = _steps(net)
    x = _check_images(net, x)
    y = _check_labels(net, y, len(x))
    if not _is_real(r_max) or not np.isfinite(r_max) or r_max <= 0:
        raise ValueError(f"r_max must be a finite number > 0, got {r_max!r}")
    time_limit = _check_positive("time_limit", time_limit)
    x_adv = _check_adversarial(x_adv, x)
    workers = _check_workers(workers)
    log = check_log(log)
    n = len(x)
    status = np.full(n, "unknown", dtype=object)
    radius, lower, upper = np.full(n, np.nan), np.zeros(n), np.full(n, np.inf)
    counterexamples, detail, seconds = [None] * n, [""] * n, np.zeros(n)
    clean = _forward(net, x)
    wrong = predictions(clean) != y
    for i in np.flatnonzero(wrong):
        status[i], radius[i], upper[i], detail[i] = "clean-wrong", 0.0, 0.0, "misclassified"
        counterexamples[i] = x[i].astype(net.dtype)
    known = np.full(n, np.inf)
    if x_adv is not None and n:
        q = np.clip(x_adv, 0, 1).astype(net.dtype)
        fooled = (predictions(_forward(net, q)) != y) & ~wrong
        distance = np.abs(q.astype(np.float64) - x.astype(np.float64)).reshape(n, -1).max(axis=1)
        for i in np.flatnonzero(fooled):
            known[i], upper[i], counterexamples[i] = distance[i], distance[i], q[i]
    report = Progress("minimal radius", n, log, unit="examples")
    todo = np.flatnonzero(~wrong)
    jobs = [(i, (steps, y[i], x[i], clean[i], float(r_max), known[i], time_limit, cuts)) for i in todo]
    for done, (i, one) in enumerate(_each(_radius_one, jobs, net, workers), start=n - len(todo) + 1):
        status[i], detail[i], seconds[i] = one["status"], one["detail"], one["seconds"]
        radius[i], lower[i] = one["radius"], one["lower"]
        if one["counterexample"] is not None and one["upper"] < upper[i]:
            upper[i], counterexamples[i] = one["upper"], one["counterexample"]
        report.update(done, f"{np.sum(status == 'exact')} exact, {np.sum(status == 'beyond')} beyond")
    if n:
        radius = np.where(status == "exact", np.minimum(radius, upper), radius)
    result = MinimalRadius(status, radius, lower, upper, counterexamples, seconds, float(r_max), detail)
    report.finish(result.summary())
    return result


def _radius_one(net, steps, t, x, clean_logits, r_max, known, time_limit, cuts):
    """One example's minimal radius (``minimal_radius``): a dict of its result fields."""
    start = time.perf_counter()
    deadline = start + time_limit
    centre = x.astype(np.float64).ravel()
    # A known misclassified point at distance d: R = d (a hair more, so that the point itself is
    # inside however its distance rounds).
    R = min(r_max, known * (1 + 1e-6) + 1e-7) if np.isfinite(known) else min(r_max, RADIUS_START)
    floor = 0.0                       # nothing is misclassified closer than this (earlier, smaller R)
    out = {"status": "unknown", "radius": np.nan, "lower": 0.0, "upper": np.inf, "counterexample": None}
    while True:
        lo, hi = np.maximum(centre - R, 0.0), np.minimum(centre + R, 1.0)
        pre = [(l[0], u[0]) for l, u in _pre_activation_bounds(steps, lo[None], hi[None])]
        program = _Program(steps, lo, hi, pre, "auto", centre=centre, radius=R)
        best, best_point, best_class, lowers, reasons = np.inf, None, None, [], []
        for j in _competitors(t, clean_logits):
            cap = min(R, best)                                  # only a closer point is news
            p = program.problem(t, j)
            g, g0 = p["g"], p["g0"]
            p = dict(p, rows=p["rows"] + [(sparse.csr_matrix(g[None]), np.array([-np.inf]), np.array([-g0]))],
                     ub=p["ub"].copy())                         # m_j <= 0
            p["ub"][program.r] = cap
            objective = np.zeros(len(g))
            objective[program.r] = 1.0
            bound, extra = _relaxation(p, objective, 0.0, cap, CUT_ROUNDS if cuts else 0, deadline=deadline)
            if bound > cap:                                     # no point of class j within cap
                lowers.append(cap)
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                reasons.append("time limit")
                lowers.append(max(floor, bound))
                break
            res = _solve(dict(p, rows=p["rows"] + extra), [], objective, remaining, gap=RADIUS_GAP)
            dual = res.mip_dual_bound if res.mip_dual_bound is not None else -np.inf
            if res.status == 2:
                lowers.append(cap)
            elif res.status == 0:
                lowers.append(max(bound, dual))
                if res.x[program.r] < best:
                    best, best_point, best_class = float(res.x[program.r]), res.x[:x.size], j
            else:
                reasons.append("time limit" if res.status == 1 else f"solver: {res.message}")
                lowers.append(max(floor, bound, dual))
                if res.x is not None and res.x[program.r] < best:   # a point, not the closest
                    best, best_point, best_class = float(res.x[program.r]), res.x[:x.size], j
        out["lower"] = max(floor, min(lowers + [best]))
        if best_point is not None:
            # the solver's point is on the decision boundary: nudge it across, inside the ball of R
            point = _confirm(net, best_point, t, best_class, lo.reshape(x.shape), hi.reshape(x.shape))
            if point is not None:
                out.update(counterexample=point, upper=float(np.abs(point.astype(np.float64).ravel() - centre).max()))
            if reasons:
                out["detail"] = "; ".join(reasons)
            elif point is None:
                out.update(radius=best, detail="no point the network misclassifies near the solver's")
            else:
                out.update(status="exact", radius=best, detail=f"R = {R:.3g}")
        elif reasons:
            out["detail"] = "; ".join(reasons)
        elif R >= r_max:
            out.update(status="beyond", radius=np.inf, lower=R, detail=f"nothing within r_max = {r_max:g}")
        else:                         # nothing within R: the answer lies further out
            floor, R = R, min(2 * R, r_max)
            if time.perf_counter() < deadline:
                continue
            out.update(lower=floor, detail="time limit")
        break
    out["seconds"] = time.perf_counter() - start
    return out


__all__ = ["interval_bounds", "exact", "minimal_radius", "Verification", "MinimalRadius", "STATUSES",
           "RADIUS_STATUSES", "TOL"]
