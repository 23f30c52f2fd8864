"""The sparsifying front end H_K (Sections 2, 3.1 and 5.1 of the paper).

An image x in R^N (N = 28*28) is assumed to be nearly K-sparse in a basis Psi. The
front end computes the coefficients c = A x, keeps the K = floor(rho N) largest in
magnitude (the support M_x), zeroes the rest, reconstructs x_hat = S (M_x c) and clips
it to [0, 1]. If a perturbation e is small enough to leave the support unchanged, the
network sees x_hat plus only the *projected* perturbation, attenuated by about K/N
(Section 3.1).

Gradients (paper footnote 2): with the support fixed at x the front end is linear, so its
vector-Jacobian product is g -> A^T M_x S^T (g * clip mask), "the projection onto the
top K basis vectors of the input". Two other ways to cross it, for adaptive attacks:
``gradient="straight-through"`` drops the clip mask (the clip passes every gradient:
about half of the reconstructed pixels are clipped, and the exact gradient is zero
there), and ``gradient="bpda"`` passes g through unchanged (the identity BPDA of
Athalye et al., used by the paper for C&W, App. B.3).

A learned basis (the paper's open question: would a basis learned from data beat the
wavelet first guess?): :func:`pca_basis` gives the principal directions of training images
as an orthonormal A, and ``Sparsifier(basis="learned", matrix=A)`` runs the same H_K with
S = A^T. Such a basis is not localized like a wavelet one: each principal direction covers
the whole image. Section 3.1's attenuation by about K/N holds while the support M_x does
not move, and predicts that localization matters -- a small local perturbation touches few
wavelet coefficients but every global one -- so more energy in K coefficients need not mean
more robustness.

Convention: images are (B, H, W) arrays; internally rows are flattened images, so
c_row = x_row @ A.T and x_row = c_row @ S.T.
"""
from __future__ import annotations

import functools
import numbers
import warnings

import numpy as np
import pywt
import scipy.fft

# The paper's CDF 9/7 is PyWavelets' bior4.4 (4 vanishing moments on each side).
WAVELETS = {"cdf97": "bior4.4", "haar": "haar", "db4": "db4"}
BASES = tuple(WAVELETS) + ("dct",)
LEARNED = "learned"   # a basis given as a matrix (e.g. pca_basis), not by name
GRADIENTS = ("exact", "straight-through", "bpda")
ORTHONORMAL_TOL = 1e-6  # a learned matrix must satisfy |A A^T - I| <= this, entrywise
RANGE_TOL = 1e-6  # inputs may leave [0, 1] by float rounding, no more


@functools.lru_cache(maxsize=None)
def operators(basis, level, shape):
    """Analysis A and synthesis S (both N x N, float64, read-only) with S A = I.

    Built once per (basis, level, shape) by transforming the N unit images; ``shape`` is
    (H, W) for images or (N,) for 1-D signals. With
    ``mode='periodization'`` a wavelet transform of an image whose sides are divisible
    by 2^level has exactly N coefficients.
    """
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}; choose from {BASES}")
    if len(shape) not in (1, 2):
        raise ValueError(f"shape must be (N,) or (H, W), got {shape}")
    N = int(np.prod(shape))
    units = np.eye(N).reshape((N,) + tuple(shape))
    if basis == "dct":
        A = scipy.fft.dctn(units, axes=tuple(range(1, units.ndim)), norm="ortho").reshape(N, N).T
        S = A.T  # orthonormal: the inverse is the transpose
    elif len(shape) == 1:  # 1-D signals, for Section 3.1's linear-classifier calculations
        with warnings.catch_warnings():  # "level too high", as below
            warnings.simplefilter("ignore", UserWarning)
            coeffs = pywt.wavedec(units, WAVELETS[basis], mode="periodization", level=level, axis=1)
        A = np.concatenate(coeffs, axis=1).T
        S = np.linalg.inv(A)
    else:
        H, W = shape
        wavelet = WAVELETS[basis]
        with warnings.catch_warnings():  # "level too high": boundary effects are expected here
            warnings.simplefilter("ignore", UserWarning)
            coeffs = pywt.wavedec2(units, wavelet, mode="periodization", level=level, axes=(1, 2))
        arr, slices = pywt.coeffs_to_array(coeffs, axes=(1, 2))
        A = arr.reshape(N, N).T
        # CDF 9/7 is biorthogonal, not orthonormal as Section 2 assumes: the synthesis
        # operator is the inverse of the analysis operator, not its transpose.
        unit_coeffs = pywt.array_to_coeffs(np.eye(N).reshape(N, H, W), slices, output_format="wavedec2")
        S = pywt.waverec2(unit_coeffs, wavelet, mode="periodization", axes=(1, 2)).reshape(N, N).T
    A.setflags(write=False)
    S.setflags(write=False)
    return A, S


class _Maps:
    """The four linear maps the front end applies to rows of flattened images (..., N):
    ``analysis`` c = A x, ``synthesis`` x = S c, and the transposes ``analysis_t`` (A^T)
    and ``synthesis_t`` (S^T) that carry gradients back.

    A level-1 wavelet transform and the DCT are separable, A = A_H (x) A_W (Kronecker:
    the rows, then the columns, of each image), so c = A_H X A_W^T costs two products
    with 28 x 28 matrices instead of one with a 784 x 784 matrix (14x fewer flops; about
    3x faster in practice). Deeper wavelet levels are not separable and use the dense
    matrices.
    """

    def __init__(self, basis, level, shape, dtype):
        A, S = operators(basis, level, shape)
        H, W = shape
        (AH, SH), (AW, SW) = operators(basis, level, (H,)), operators(basis, level, (W,))
        self.shape = shape
        self.separable = np.allclose(np.kron(AH, AW), A, atol=1e-12) and np.allclose(np.kron(SH, SW), S, atol=1e-12)
        if self.separable:   # per map: (L, R^T) with the map = L (x) R
            self._m = {"analysis": (AH, AW.T), "synthesis": (SH, SW.T), "analysis_t": (AH.T, AW),
                       "synthesis_t": (SH.T, SW)}
        else:                # per map: M^T, for rows @ M^T
            self._m = {"analysis": (A.T,), "synthesis": (S.T,), "analysis_t": (A,), "synthesis_t": (S,)}
        self._m = {k: tuple(np.ascontiguousarray(m, dtype) for m in v) for k, v in self._m.items()}
        for pair in self._m.values():   # shared through the cache: nobody may write to them
            for m in pair:
                m.setflags(write=False)

    def analysis(self, rows):
        return self._apply("analysis", rows)

    def synthesis(self, rows):
        return self._apply("synthesis", rows)

    def analysis_t(self, rows):
        return self._apply("analysis_t", rows)

    def synthesis_t(self, rows):
        return self._apply("synthesis_t", rows)

    def _apply(self, name, rows):
        if not self.separable:
            return np.matmul(rows, self._m[name][0])
        # vec(L X R^T) for every image X: one product over all rows of all images (X R^T),
        # then L times each image, a stacked product (no transposed copies: 2-4x faster).
        L, RT = self._m[name]
        H, W = self.shape
        lead = rows.shape[:-1]
        Y = np.matmul(rows.reshape(-1, W), RT).reshape(-1, H, W)           # X R^T
        return np.matmul(L, Y).reshape(*lead, H * W)                         # L (X R^T)


@functools.lru_cache(maxsize=None)
def _maps(basis, level, shape, dtype):
    return _Maps(basis, level, shape, dtype)


def pca_basis(images, shape=None):
    """A learned analysis matrix: the principal directions of the training images.

    The rows of A are the right singular vectors of the (n, N) matrix X of flattened images,
    that is the eigenvectors of the uncentered second moment X^T X (no mean is subtracted:
    H_K keeps the K largest coefficients of x itself, so the directions that carry the most
    energy of x, mean included, come first). Ordered by decreasing singular value; each row's
    sign is fixed so that its largest-magnitude entry (the first one, on a tie) is positive,
    so the same images always give the same A. With it, H_K keeps the K = floor(rho N)
    largest of c = A x and returns S M_x c with S = A^T. Unlike a wavelet's, these atoms are
    not localized (each spans the whole image), which Section 3.1 predicts matters for how a
    perturbation crosses H_K.

    Numerics: X^T X is never formed -- squaring X squares its condition number, and the
    directions of small singular value (MNIST's always-black border pixels make X rank
    deficient) would come out of ``eigh`` with errors of order eps * sigma_max^2 / gap.
    Instead X = Q R (Householder, ``mode='r'``: Q is never stored, so 60,000 images cost
    one copy of X) and A is the V^T of ``np.linalg.svd(R, full_matrices=True)``: the same
    right singular vectors as X's, backward stable, and N x N even when n < N (the rows past
    the rank of X complete an orthonormal basis of its null space).

    Parameters
    ----------
    images : ndarray of shape (n, H, W), floating point, finite; n >= 1
    shape : (H, W), optional; if given, the images must have it

    Returns
    -------
    A : ndarray of shape (N, N), N = H W, float64, read-only, A A^T = I. Use it as
        ``Sparsifier(basis="learned", matrix=A)``.
    """
    x = np.asarray(images)
    if x.ndim != 3 or len(x) < 1 or 0 in x.shape:
        raise ValueError(f"images must be an array of shape (n, H, W) with n >= 1, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"images must be floating point, got dtype {x.dtype}")
    if shape is not None and tuple(shape) != x.shape[1:]:
        raise ValueError(f"images have shape (n, {x.shape[1]}, {x.shape[2]}), not the requested shape {tuple(shape)}")
    if not np.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values")
    X = x.reshape(len(x), -1).astype(np.float64)
    R = np.linalg.qr(X, mode="r")                           # (min(n, N), N), X^T X = R^T R
    _, _, A = np.linalg.svd(R, full_matrices=True)          # rows: decreasing singular value
    A = np.ascontiguousarray(A)
    lead = np.abs(A).argmax(axis=1)
    A *= np.where(A[np.arange(len(A)), lead] < 0, -1.0, 1.0)[:, None]
    A.setflags(write=False)
    return A


def _check_matrix(matrix, N):
    """A learned analysis matrix, validated: (N, N), finite, A A^T = I; a read-only float64 copy."""
    if matrix is None:
        raise ValueError(f'basis="{LEARNED}" needs matrix=A, an orthonormal {N} x {N} analysis matrix '
                         f"(e.g. pca_basis(train_images))")
    A = np.asarray(matrix)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"matrix must be square, N x N with N = {N}, got shape {A.shape}")
    if A.shape != (N, N):
        raise ValueError(f"matrix must be {N} x {N} (N = H W for the front end's shape), got {A.shape}")
    if not (np.issubdtype(A.dtype, np.floating) or np.issubdtype(A.dtype, np.integer)):
        raise ValueError(f"matrix must hold real numbers, got dtype {A.dtype}")
    A = np.array(A, dtype=np.float64)
    if not np.isfinite(A).all():
        raise ValueError("matrix contains NaN or infinite values")
    err = np.abs(A @ A.T - np.eye(N)).max()
    if err > ORTHONORMAL_TOL:
        raise ValueError(f"matrix must be orthonormal (A A^T = I to {ORTHONORMAL_TOL:g}), "
                         f"but max |A A^T - I| = {err:.3g}")
    A.setflags(write=False)
    return A


class _MatrixMaps:
    """The four maps of :class:`_Maps` for a learned orthonormal A, with S = A^T: dense
    products with the one matrix (``analysis`` rows @ A^T, ``synthesis`` rows @ A, and the
    transposes). Held by the Sparsifier that owns A (a matrix cannot key the lru_cache)."""

    def __init__(self, A, dtype):
        self._m = {"analysis": A.T, "synthesis": A, "analysis_t": A, "synthesis_t": A.T}
        self._m = {k: np.ascontiguousarray(m, dtype) for k, m in self._m.items()}
        for m in self._m.values():
            m.setflags(write=False)

    def analysis(self, rows):
        return np.matmul(rows, self._m["analysis"])

    def synthesis(self, rows):
        return np.matmul(rows, self._m["synthesis"])

    def analysis_t(self, rows):
        return np.matmul(rows, self._m["analysis_t"])

    def synthesis_t(self, rows):
        return np.matmul(rows, self._m["synthesis_t"])


class Sparsifier:
    """H_K: keep the K = floor(rho N) largest coefficients in ``basis``, reconstruct, clip.

    The support M_x: the K coefficients of c = A x largest in magnitude. Ties: of
    coefficients equal in magnitude, the one with the lower index in c (the row-major order
    of the analysis, as ``coefficients`` returns it) is kept first -- exactly the first K of
    a stable sort of c by decreasing |c| (``reference.top_k_support``). So the output never
    depends on a sorting algorithm's choice among equal magnitudes (about 15% of MNIST test
    digits have such a tie at the K-th place in the Haar basis at rho = 3%).

    Parameters
    ----------
    basis : "cdf97" (the paper's choice), "haar", "db4", "dct" (orthonormal 2-D DCT-II), or
        "learned" (with ``matrix``)
    level : wavelet decomposition level, an integer >= 1 (ignored for "dct" and "learned",
        where any value, None included, is accepted)
    rho : K / N, in (0, 1]
    shape : (H, W) of the images the operators are built for
    gradient : "exact" (VJP with the support fixed at x), "straight-through" (the same
        without the clip's mask) or "bpda" (identity)
    matrix : only with basis="learned": the analysis matrix A, (N, N), orthonormal
        (A A^T = I to 1e-6), e.g. :func:`pca_basis` of training images; then S = A^T.
        A learned basis is not localized like a wavelet one (see the module docstring).

    Inputs are (B, H, W) float arrays in [0, 1]; outputs keep their dtype.
    """

    def __init__(self, basis="cdf97", level=1, rho=0.03, shape=(28, 28), gradient="exact", matrix=None):
        if basis not in BASES and basis != LEARNED:
            raise ValueError(f"unknown basis {basis!r}; choose from {BASES}, or {LEARNED!r} with matrix=A")
        if basis != LEARNED and matrix is not None:
            raise ValueError(f'matrix is only used with basis="{LEARNED}", got basis={basis!r}')
        if gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
        if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0 < rho <= 1:
            raise ValueError(f"rho must be a number in (0, 1], got {rho!r}")
        if isinstance(rho, np.floating):   # float32(0.03) means 0.03: K as for the decimal it prints as
            rho = float(str(rho))
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape)):
            raise ValueError(f"shape must be (H, W), two positive integers, got {shape!r}")
        shape = tuple(int(s) for s in shape)
        self.matrix, self._learned_maps = None, {}   # basis="learned": A, and its maps per dtype
        if basis == LEARNED:
            self.matrix = _check_matrix(matrix, shape[0] * shape[1])
        elif basis != "dct":
            if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 1:
                raise ValueError(f"level must be an integer >= 1, got {level!r}")
            if any(s % 2 ** level for s in shape):
                raise ValueError(f"level {level} needs image sides divisible by {2 ** level} "
                                 f"(periodized transform with N coefficients), got {shape}")
        if basis in WAVELETS:
            level = int(level)
        elif isinstance(level, bool) or not isinstance(level, (int, np.integer)):
            level = 1      # ignored by the DCT and a learned basis: one value keeps one cache entry
        self.basis, self.level, self.rho, self.shape = basis, int(level), float(rho), shape
        self.gradient = gradient
        self.N = shape[0] * shape[1]
        self.K = max(1, int(np.floor(rho * self.N + 1e-9)))  # +1e-9: 0.03 * 784 is not exact in binary
        self._last = None  # (x, unclipped reconstruction, support) of the last forward pass

    @classmethod
    def from_matrix(cls, matrix, rho=0.03, shape=(28, 28), gradient="exact"):
        """H_K in a learned orthonormal basis: ``Sparsifier(basis="learned", matrix=matrix, ...)``."""
        return cls(LEARNED, rho=rho, shape=shape, gradient=gradient, matrix=matrix)

    def __repr__(self):
        level = "" if self.basis == LEARNED else f", level={self.level}"
        return (f"Sparsifier(basis={self.basis!r}{level}, rho={self.rho}, K={self.K} of "
                f"N={self.N}, gradient={self.gradient!r})")

    # -- the forward map ------------------------------------------------------
    def coefficients(self, x):
        """c = A x for each image: (B, N)."""
        x = self._check(x)
        return self._maps(x.dtype).analysis(x.reshape(len(x), self.N))

    def support(self, x):
        """M_x: boolean (B, N) mask of the K coefficients of x largest in magnitude."""
        return self.top_k_support(self.coefficients(x))

    def top_k_support(self, c):
        """The support of coefficient rows c (B, N), any real values: a boolean (B, N) mask of
        the K largest |c| of each row, ties by the class docstring's rule (lower index first).
        ``support(x)`` is ``top_k_support(coefficients(x))``, M_x.

        O(N) per row: t, the K-th largest |c| of a row, comes from a partition; every |c| > t
        is kept, and of the |c| == t the first K - #{|c| > t} by index. Only rows with more
        than one |c| equal to t need that count (a cumulative sum). Textbook twin:
        ``reference.top_k_support(c, K)``, a stable sort."""
        a = np.abs(c)
        # The K-th smallest of -|c|: a partition near the start of the row is over ten times
        # faster than one near its end when most of the row ties at 0 (MNIST's wavelet coefficients).
        t = -np.partition(-a, self.K - 1, axis=1)[:, self.K - 1, None]           # (B, 1)
        mask = a >= t
        extra = mask.sum(axis=1) - self.K        # ties at t beyond the K places
        rows = np.flatnonzero(extra)
        if len(rows):
            at = a[rows] == t[rows]
            # drop the last `extra` of each row's ties: keep those whose rank among the ties
            # (1, 2, ... in index order) is at most their number minus `extra`
            keep = np.cumsum(at, axis=1) <= (at.sum(axis=1) - extra[rows])[:, None]
            mask[rows] &= ~at | keep
        return mask

    def _reconstruct(self, x):
        """(unclipped reconstruction rows (B, N), support (B, N)).

        An attack calls ``vjp`` on the x it just passed forward: the last result is kept
        with a copy of its input and reused only when the new x equals it exactly, dtype
        included (an O(BN) comparison against the O(BN^2) products it saves).
        """
        last = self._last
        if (last is not None and last[0].shape == np.shape(x) and last[0].dtype == np.asarray(x).dtype
                and np.array_equal(last[0], x)):
            return last[1], last[2]
        c = self.coefficients(x)
        mask = self.top_k_support(c)
        c *= mask
        r = self._maps(c.dtype).synthesis(c)
        self._last = (np.array(x, copy=True), r, mask)
        return r, mask

    def __call__(self, x):
        """x_hat = clip(S M_x A x, 0, 1), shape (B, H, W)."""
        r, _ = self._reconstruct(x)
        return np.clip(r, 0, 1).reshape(len(r), *self.shape)

    forward = __call__

    def unclipped(self, x):
        """S M_x A x, the reconstruction from the K largest coefficients before the clip to
        [0, 1] (Section 2), shape (B, H, W), x's dtype. Where it leaves [0, 1] the clip acts,
        and the exact gradient is zero there (see ``vjp``)."""
        r, _ = self._reconstruct(x)
        return r.reshape(len(r), *self.shape).copy()

    # -- gradients ------------------------------------------------------------
    def vjp(self, x, g):
        """g^T d x_hat / d x at x: A^T M_x S^T (g * 1[0 <= r <= 1]) with r the unclipped
        reconstruction (the clip passes the gradient on the closed interval); without
        the clip's mask in straight-through mode; g itself in BPDA mode."""
        g = np.asarray(g)
        if g.shape != np.shape(x):
            raise ValueError(f"gradient shape {g.shape} differs from input shape {np.shape(x)}")
        if self.gradient == "bpda":
            self._check(x)
            return g.copy()
        r, mask = self._reconstruct(x)
        gz = g.reshape(len(g), self.N).astype(r.dtype)
        if self.gradient == "exact":
            gz = gz * ((r >= 0) & (r <= 1))
        return self._project_rows(gz, mask).reshape(g.shape)

    def with_gradient(self, gradient):
        """The same front end, with gradients crossing it as ``gradient``."""
        return Sparsifier(self.basis, self.level, self.rho, self.shape, gradient, matrix=self.matrix)

    def project(self, w, x):
        """P_K(w, x) = A^T M_x S^T w: w carried across the unclipped front end with the
        support of x (Sections 3.1, 3.5). An orthogonal projection for orthonormal bases,
        an oblique (still idempotent) one for the biorthogonal CDF 9/7.

        w : (B, ..., N) or (B, ..., H, W), batch axis matching x; returns w's shape.
        """
        w = np.asarray(w)
        mask = self.support(x)
        tail = w.shape[-2:] == self.shape
        if w.shape[0] != len(mask) or not (tail or w.shape[-1] == self.N):
            raise ValueError(f"w must have shape (B, ..., {self.N}) or (B, ..., {self.shape[0]}, "
                             f"{self.shape[1]}) with B = {len(mask)}, got {w.shape}")
        rows = w.reshape(len(mask), -1, self.N)
        out = self._project_rows(rows, mask[:, None, :])
        return out.reshape(w.shape)

    def _project_rows(self, rows, mask):
        maps = self._maps(rows.dtype if rows.dtype == np.float32 else np.float64)
        z = maps.synthesis_t(rows)
        z *= mask
        return maps.analysis_t(z)

    # -- helpers --------------------------------------------------------------
    def _maps(self, dtype):
        if self.matrix is None:
            return _maps(self.basis, self.level, self.shape, np.dtype(dtype))
        dtype = np.dtype(dtype)
        if dtype not in self._learned_maps:
            self._learned_maps[dtype] = _MatrixMaps(self.matrix, dtype)
        return self._learned_maps[dtype]

    def _check(self, x):
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[1:] != self.shape:
            raise ValueError(f"front end built for {self.shape[0]}x{self.shape[1]} images (B, "
                             f"{self.shape[0]}, {self.shape[1]}), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"images must be floating point in [0, 1], got dtype {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("images contain NaN or infinite values")
        if x.size and (x.min() < -RANGE_TOL or x.max() > 1 + RANGE_TOL):
            raise ValueError(f"images must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
        return x
