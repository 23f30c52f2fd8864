"""sparsenet.frontend: the sparsifying front end H_K (Sections 2, 3.1, 5.1), its exact
gradient (footnote 2), and the straight-through and BPDA gradients an attack may ask for."""
import warnings

import numpy as np
import pytest
import pywt
import scipy.fft

from helpers import numerical_grad, rel_error, sample
from sparsenet import data, reference as textbook
from sparsenet.frontend import BASES, Sparsifier, operators, pca_basis


CASES = [("cdf97", 1), ("cdf97", 2), ("haar", 1), ("haar", 2), ("db4", 1), ("db4", 2), ("dct", 1)]


def reference(x, basis, level, K):
    """Per-image PyWavelets / scipy reference: transform, keep top K, invert, clip."""
    if basis == "dct":
        flat = scipy.fft.dctn(x, norm="ortho").ravel()
        flat[np.argsort(-np.abs(flat))[K:]] = 0
        return np.clip(scipy.fft.idctn(flat.reshape(x.shape), norm="ortho"), 0, 1)
    wavelet = {"cdf97": "bior4.4", "haar": "haar", "db4": "db4"}[basis]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pywt: "level too high" for level 2
        arr, slices = pywt.coeffs_to_array(pywt.wavedec2(x, wavelet, mode="periodization", level=level))
    flat = arr.ravel().copy()
    flat[np.argsort(-np.abs(flat))[K:]] = 0
    coeffs = pywt.array_to_coeffs(flat.reshape(arr.shape), slices, output_format="wavedec2")
    return np.clip(pywt.waverec2(coeffs, wavelet, mode="periodization"), 0, 1)


@pytest.mark.parametrize("basis,level", CASES)
def test_front_end_equals_per_image_reference(basis, level):
    x = np.random.default_rng(0).random((4, 28, 28))
    sp = Sparsifier(basis, level, rho=0.03)
    out = sp(x)
    for i in range(len(x)):
        np.testing.assert_allclose(out[i], reference(x[i], basis, level, sp.K), atol=1e-10)


@pytest.mark.parametrize("basis,level", CASES)
def test_synthesis_inverts_analysis(basis, level):
    A, S = operators(basis, level, (28, 28))
    np.testing.assert_allclose(S @ A, np.eye(784), atol=1e-10)
    if basis != "cdf97":  # orthonormal bases: S = A^T; CDF 9/7 is only biorthogonal
        np.testing.assert_allclose(S, A.T, atol=1e-12)
    else:
        assert np.abs(S - A.T).max() > 1e-2


@pytest.mark.parametrize("basis,level", CASES)
def test_fast_maps_equal_the_dense_operators(basis, level):
    """Level 1 and the DCT are separable (A = A_H kron A_W) and run as two 28 x 28 products,
    deeper levels densely; both must apply A, S and their transposes: c = A x, the
    reconstruction S M_x c, and the projection A^T M_x S^T w, against the dense operators."""
    A, S = operators(basis, level, (28, 28))
    (AH, _), (AW, _) = operators(basis, level, (28,)), operators(basis, level, (28,))
    assert np.allclose(np.kron(AH, AW), A, atol=1e-12) == (level == 1 or basis == "dct")
    rng = np.random.default_rng(1)
    x, w = rng.random((3, 28, 28)), rng.standard_normal((3, 5, 784))
    sp = Sparsifier(basis, level, rho=0.03)
    rows, mask = x.reshape(3, 784), sp.support(x)
    np.testing.assert_allclose(sp.coefficients(x), rows @ A.T, atol=1e-10)
    np.testing.assert_allclose(sp.unclipped(x).reshape(3, 784), ((rows @ A.T) * mask) @ S.T, atol=1e-10)
    np.testing.assert_allclose(sp.project(w, x), ((w @ S) * mask[:, None]) @ A, atol=1e-10)


@pytest.mark.parametrize("basis", BASES)
def test_exactly_k_sparse_input_passes_unchanged(basis):
    """A constant image is sparse in every basis (the approximation band at level 1, or
    the DCT's DC term); add a few small random atoms and it stays exactly K-sparse."""
    sp = Sparsifier(basis, 1, rho=0.3)
    A, S = operators(basis, 1, (28, 28))
    rng = np.random.default_rng(1)
    c = A @ np.full(784, 0.5)
    c[np.abs(c) < 1e-9] = 0
    free = np.flatnonzero(c == 0)
    images = []
    for _ in range(3):
        ci = c.copy()
        extra = rng.choice(free, sp.K - np.count_nonzero(c), replace=False)
        ci[extra] = rng.uniform(-0.02, 0.02, len(extra))
        images.append(S @ ci)
    x = np.array(images).reshape(3, 28, 28)
    assert 0 <= x.min() and x.max() <= 1
    assert (np.count_nonzero(np.abs(sp.coefficients(x)) > 1e-9, axis=1) <= sp.K).all()
    np.testing.assert_allclose(sp(x), x, atol=1e-12)


def smooth_images(n, rng):
    """Blurred random images: sparse-ish in the wavelet bases, with no magnitude ties."""
    x = rng.random((n, 28, 28))
    for _ in range(3):
        x = (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 3
    return 0.1 + 0.8 * (x - x.min()) / (x.max() - x.min())


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("clipping", [False, True])
def test_vjp_matches_finite_differences_when_the_support_is_fixed(basis, clipping):
    rng = np.random.default_rng(2)
    sp = Sparsifier(basis, 1, rho=0.5)
    if clipping:  # near-binary images: the top-K reconstruction over- and undershoots
        x = np.clip(0.05 + 0.9 * (rng.random((2, 28, 28)) > 0.5) + 0.01 * rng.random((2, 28, 28)), 0, 1)
    else:
        x = 0.3 + 0.4 * smooth_images(2, rng)
    r, mask = sp.unclipped(x), sp.support(x)
    assert ((r < 0) | (r > 1)).any() == clipping
    g = rng.standard_normal(x.shape)
    grad = sp.vjp(x, g)
    f = lambda: float(np.sum(g * sp(x)))
    idx = sample(x.size, 60, rng)
    num = numerical_grad(f, x, idx, h=1e-7)
    assert (sp.support(x) == mask).all()  # h never moved the support
    assert rel_error(grad.reshape(-1)[idx], num) < 1e-6


def dense_vjp(basis, level, rho, x, g):
    """Footnote 2 with the dense operators, one image at a time: A^T M_x S^T (g * 1[0 <= r <= 1])."""
    A, S = operators(basis, level, (28, 28))
    K = Sparsifier(basis, level, rho).K
    out = []
    for xi, gi in zip(x.reshape(len(x), -1), g.reshape(len(g), -1)):
        c = A @ xi
        keep = np.zeros(784, bool)
        keep[np.argsort(-np.abs(c))[:K]] = True
        r = S @ (c * keep)
        out.append(A.T @ (keep * (S.T @ (gi * ((r >= 0) & (r <= 1))))))
    return np.array(out).reshape(g.shape)


@pytest.mark.parametrize("basis", BASES)
def test_exact_gradient_is_the_default_and_bpda_is_the_identity(basis):
    rng = np.random.default_rng(3)
    # Near-binary images (the clip is active somewhere), with noise so that no two coefficients tie.
    x = np.clip(0.05 + 0.9 * (rng.random((2, 28, 28)) > 0.6) + 0.01 * rng.random((2, 28, 28)), 0, 1)
    g = rng.standard_normal((2, 28, 28))
    r = Sparsifier(basis).unclipped(x)
    assert ((r < 0) | (r > 1)).any() == (basis != "haar")   # the clip mask matters (Haar never overshoots here)
    assert Sparsifier(basis).gradient == "exact"
    np.testing.assert_allclose(Sparsifier(basis).vjp(x, g), dense_vjp(basis, 1, 0.03, x, g), atol=1e-10)
    bpda = Sparsifier(basis, gradient="bpda").vjp(x, g)
    np.testing.assert_array_equal(bpda, g)
    assert bpda is not g


def calm_images(n, rng):
    """Smooth images of small amplitude around 0.5: with rho = 0.3 (more than the 196
    approximation coefficients of level 1) every basis reconstructs them inside [0, 1], so the
    clip is inactive and the VJP is exactly the projection."""
    return 0.5 + 0.1 * (smooth_images(n, rng) - 0.5)


@pytest.mark.parametrize("basis", BASES)
def test_vjp_is_the_projection_when_nothing_clips(basis):
    rng = np.random.default_rng(4)
    sp = Sparsifier(basis, 1, rho=0.3)
    x, w = calm_images(3, rng), rng.standard_normal((3, 784))
    r = sp.unclipped(x)
    assert ((r >= 0) & (r <= 1)).all()            # the premise holds for every basis: never skipped
    np.testing.assert_allclose(sp.vjp(x, w.reshape(3, 28, 28)).reshape(3, 784), sp.project(w, x), atol=1e-10)


@pytest.mark.parametrize("basis", BASES)
def test_projection_is_idempotent_and_orthogonal_for_orthonormal_bases(basis):
    rng = np.random.default_rng(4)
    sp = Sparsifier(basis, 1)
    x = smooth_images(3, rng)
    w, v = rng.standard_normal((3, 10, 784)), rng.standard_normal((3, 10, 784))
    Pw = sp.project(w, x)
    np.testing.assert_allclose(sp.project(Pw, x), Pw, atol=1e-10)
    assert sp.project(w.reshape(3, 10, 28, 28), x).shape == (3, 10, 28, 28)
    if basis != "cdf97":
        Pv = sp.project(v, x)
        np.testing.assert_allclose(np.sum(Pw * v), np.sum(w * Pv), rtol=1e-10)  # symmetric
        assert (np.linalg.norm(Pw, axis=-1) <= np.linalg.norm(w, axis=-1) + 1e-12).all()


def test_dtype_follows_input_and_output_is_deterministic():
    x = smooth_images(3, np.random.default_rng(5))
    sp = Sparsifier()
    assert sp(x).dtype == np.float64 and sp(x.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(sp(x.astype(np.float32)), sp(x), atol=1e-5)
    np.testing.assert_array_equal(Sparsifier()(x), sp(x))
    assert sp.K == 23 and sp.support(x).sum(axis=1).tolist() == [23, 23, 23]


def test_cached_forward_is_never_reused_for_a_changed_input():
    sp, x = Sparsifier(), smooth_images(2, np.random.default_rng(6))
    first = sp(x)
    x2 = x.copy()
    x2[0, 5, 5] += 0.05
    np.testing.assert_array_equal(sp(x2), Sparsifier()(x2))
    x[...] = x2          # same object mutated in place
    np.testing.assert_array_equal(sp(x), Sparsifier()(x2))
    assert not np.array_equal(first, sp(x))


def test_cached_forward_is_never_reused_across_dtypes():
    # The same values in float64, then float32: the second call must compute in float32,
    # forward and backward, not hand back the float64 result of the first.
    x32 = smooth_images(2, np.random.default_rng(7)).astype(np.float32)
    sp, x = Sparsifier(), x32.astype(np.float64)      # equal values, exactly
    assert sp(x).dtype == np.float64 and sp(x32).dtype == np.float32
    assert sp.vjp(x, np.ones_like(x)).dtype == np.float64
    assert sp.vjp(x32, np.ones_like(x32)).dtype == np.float32
    np.testing.assert_array_equal(sp(x32), Sparsifier()(x32))


def test_operators_reject_unknown_bases_and_shapes():
    with pytest.raises(ValueError, match="unknown basis"):
        operators("fourier", 1, (28, 28))
    with pytest.raises(ValueError, match="shape must be"):
        operators("haar", 1, (4, 4, 4))


@pytest.mark.parametrize("kwargs,match", [
    ({"rho": 0.0}, r"rho must be (a number )?in \(0, 1\], got 0.0"),
    ({"rho": 1.5}, r"rho must be (a number )?in \(0, 1\], got 1.5"),
    ({"basis": "fourier"}, "unknown basis"),
    ({"gradient": "none"}, "gradient must be one of"),
    ({"level": 0}, "level must be"),
    ({"level": 3}, "divisible by 8"),
])
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Sparsifier(**kwargs)


@pytest.mark.parametrize("x,match", [
    (np.zeros((2, 32, 32)), "built for 28x28"),
    (np.zeros((28, 28)), "built for 28x28"),
    (np.full((1, 28, 28), np.nan), "NaN"),
    (np.full((1, 28, 28), 1.5), r"\[0, 1\]"),
    (np.zeros((1, 28, 28), dtype=np.uint8), "floating point"),
])
def test_bad_images_raise(x, match):
    with pytest.raises(ValueError, match=match):
        Sparsifier()(x)


def test_range_tolerance_is_float_rounding_only():
    sp = Sparsifier()
    for ok in (1 + 1e-7, -1e-7):
        sp(np.full((1, 28, 28), ok))
    for bad in (1 + 1e-5, -1e-5):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            sp(np.full((1, 28, 28), bad))


@pytest.mark.parametrize("rho,K", [(0.03, 23), (0.5, 392), (1.0, 784), (1e-6, 1), (3 / 784, 3)])
def test_k_is_floor_of_rho_n_and_the_support_has_k_coefficients(rho, K):
    sp = Sparsifier(rho=rho)
    assert sp.K == K
    assert (sp.support(smooth_images(2, np.random.default_rng(0))).sum(axis=1) == K).all()


# -- the tie rule of H_K ---------------------------------------------------------------------------
def constructed_ties(rng):
    """Rows of coefficients (N = 784, K = 23) with ties at, above and below the K-th place."""
    N, rows = 784, []
    rows.append(np.zeros(N))                                          # all equal (zero)
    rows.append(0.5 * rng.choice([-1.0, 1.0], N))                     # all equal, both signs
    c = 0.01 * rng.random(N)
    c[rng.choice(N, 21, replace=False)] = 5 + rng.random(21)          # 21 clearly kept...
    free = np.flatnonzero(c < 1)
    c[rng.choice(free, 6, replace=False)] = 0.3 * np.array([1, -1, 1, -1, -1, 1])   # ...then 2 of 6 ties
    rows.append(c)
    c = 0.01 * rng.random(N)
    c[rng.choice(N, 30, replace=False)] = -2.0                        # 30 tied at the top: the first 23
    rows.append(c)
    c = np.round(rng.standard_normal(N), 1)                           # many ties everywhere
    rows.append(c)
    rows.append(rng.standard_normal(N))                               # no ties
    c = np.zeros(N)
    c[[700, 3, 400]] = [1.0, -1.0, 1.0]                               # fewer nonzeros than K: zeros tie
    rows.append(c)
    return np.array(rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_support_is_the_k_largest_magnitudes_lower_index_first_on_ties(dtype):
    """The fast support (a partition and a count) is the textbook one (a stable sort)."""
    sp = Sparsifier("haar", rho=0.03)
    c = constructed_ties(np.random.default_rng(0)).astype(dtype)
    fast = sp.top_k_support(c)
    np.testing.assert_array_equal(fast, textbook.top_k_support(c, sp.K))
    assert (fast.sum(axis=1) == sp.K).all()
    np.testing.assert_array_equal(np.flatnonzero(fast[0]), np.arange(23))           # all zero: the first K
    np.testing.assert_array_equal(np.flatnonzero(fast[1]), np.arange(23))           # all tied, either sign
    ties = np.flatnonzero(np.abs(c[2]) == dtype(0.3))
    assert set(ties[:2]) <= set(np.flatnonzero(fast[2])) and not set(ties[2:]) & set(np.flatnonzero(fast[2]))
    np.testing.assert_array_equal(np.flatnonzero(fast[3]), np.flatnonzero(c[3] == -2)[:23])
    zeros_kept = [0, 1, 2] + list(range(4, 21))                                     # the first 20 zeros
    np.testing.assert_array_equal(np.flatnonzero(fast[6]), sorted(zeros_kept + [3, 400, 700]))


def test_the_textbook_support_is_a_stable_top_k():
    c = np.array([[0.0, -3.0, 1.0, 3.0, -1.0, 2.0, 1.0]])
    np.testing.assert_array_equal(np.flatnonzero(textbook.top_k_support(c, 4)[0]), [1, 2, 3, 5])


@pytest.mark.parametrize("basis", BASES)
def test_a_black_image_keeps_the_first_k_coefficients(basis):
    """All N coefficients of a black image are 0: the support is c's first K, whatever the
    sorting algorithm would have picked."""
    sp = Sparsifier(basis, rho=0.03)
    np.testing.assert_array_equal(sp.support(np.zeros((2, 28, 28))), np.tile(np.arange(784) < 23, (2, 1)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_real_haar_digits_with_ties_keep_what_the_textbook_top_k_keeps(mnist_dir, dtype):
    """About 15% of MNIST test digits have a tie at the K-th largest Haar coefficient (rho = 3%):
    on every digit the support and the front end's output are the textbook top-K's."""
    x = data.load_dataset("mnist", "test", mnist_dir)[0][:3000].astype(dtype)
    sp = Sparsifier("haar", level=1, rho=0.03)
    c = sp.coefficients(x)
    a = np.abs(c)
    t = -np.sort(-a, axis=1)[:, sp.K - 1:sp.K]
    split = (a >= t).sum(axis=1) > sp.K               # the K-th place cuts a group of equal magnitudes
    assert split.mean() > 0.10
    expected = textbook.top_k_support(c, sp.K)
    np.testing.assert_array_equal(sp.support(x), expected)
    _, S = operators("haar", 1, (28, 28))
    out = np.clip((c * expected) @ S.T.astype(dtype), 0, 1).reshape(x.shape)
    np.testing.assert_allclose(sp(x), out, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("basis", ["dct", "learned"])
def test_level_is_ignored_by_the_dct_and_a_learned_basis_none_included(basis):
    x = np.random.default_rng(3).random((3, 28, 28))
    matrix = pca_basis(x) if basis == "learned" else None
    expected = Sparsifier(basis, level=1, matrix=matrix)(x)
    for level in (None, 2, 3):
        np.testing.assert_array_equal(Sparsifier(basis, level=level, matrix=matrix)(x), expected)
    assert Sparsifier(basis, level=None, matrix=matrix).with_gradient("bpda").gradient == "bpda"


def test_bad_gradient_or_projection_shapes_raise():
    sp, x = Sparsifier(), np.zeros((2, 28, 28))
    with pytest.raises(ValueError, match="gradient shape"):
        sp.vjp(x, np.zeros((2, 784)))
    with pytest.raises(ValueError, match="w must have shape"):
        sp.project(np.zeros((3, 784)), x)


# -- gradients through the front end --------------------------------------------------------
def test_the_three_gradients_through_the_front_end():
    rng = np.random.default_rng(16)
    x = rng.random((3, 28, 28))
    g = rng.standard_normal(x.shape)
    exact = Sparsifier()
    r = exact.unclipped(x)
    through = exact.project(g, x)                                               # A^T M_x S^T g
    clipped = exact.project(g * ((r >= 0) & (r <= 1)), x)
    assert ((r < 0) | (r > 1)).mean() > 0.2                                      # the clip matters here
    np.testing.assert_allclose(exact.vjp(x, g), clipped, atol=1e-12)
    np.testing.assert_allclose(exact.with_gradient("straight-through").vjp(x, g), through, atol=1e-12)
    np.testing.assert_array_equal(exact.with_gradient("bpda").vjp(x, g), g)
    assert not np.allclose(through, clipped)
    other = exact.with_gradient("bpda")
    assert (other.basis, other.level, other.rho, other.K) == (exact.basis, exact.level, exact.rho, exact.K)


@pytest.mark.parametrize("basis", ["cdf97", "learned"])
def test_combined_defense_gradient_matches_finite_differences(basis):
    """Front end + network sparsity (a pruned fc2 behind H_K), float64: the classifier's input
    gradient is the exact VJP through both, checked against central differences."""
    from sparsenet.frontend import pca_basis
    from sparsenet.models import Classifier, fc2, prune
    rng = np.random.default_rng(5)
    net = fc2(seed=1, dtype=np.float64)
    net.weighted[0].params["b"][:] = 0.1 * rng.standard_normal(10)
    mask = prune(net.weighted[0], 0.03, "neuron")
    assert mask.sum() == 23 * 10
    matrix = pca_basis(smooth_images(40, rng)) if basis == "learned" else None
    sp = Sparsifier(basis, 1, rho=0.03, matrix=matrix)
    clf = Classifier(net, sp)
    x = 0.3 + 0.4 * smooth_images(2, rng)
    seed = rng.standard_normal((2, 1))
    clf.forward(x)
    grad = clf.backward(seed)
    f = lambda: float(np.sum(seed * clf.forward(x)))
    idx = sample(x.size, 60, rng)
    support = sp.support(x)
    num = numerical_grad(f, x, idx, h=1e-7)
    assert (sp.support(x) == support).all()
    assert np.abs(grad).max() > 0 and rel_error(grad.reshape(-1)[idx], num) < 1e-6
