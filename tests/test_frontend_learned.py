"""A learned front end: H_K in the principal directions of the training images (pca_basis),
the paper's open question of whether a basis learned from data beats the wavelet first guess.
The Sparsifier must treat it like a named basis: top-K support, clip, exact / straight-through /
BPDA gradients, projection, dtypes."""
import numpy as np
import pytest

from helpers import numerical_grad, rel_error, sample
from sparsenet import data
from sparsenet.frontend import Sparsifier, operators, pca_basis


def blurred_images(n, seed):
    """Smooth random images in [0.1, 0.9]: correlated pixels, so PCA has a clear spectrum."""
    x = np.random.default_rng(seed).random((n, 28, 28))
    for _ in range(3):
        x = (x + np.roll(x, 1, 1) + np.roll(x, 1, 2)) / 3
    return 0.1 + 0.8 * (x - x.min()) / (x.max() - x.min())


@pytest.fixture(scope="module")
def synthetic_basis():
    return pca_basis(blurred_images(1000, seed=0))


def top_k_projection(A, x_rows, K):
    """P_K x = A^T M_x A x, one image at a time, with x's own top-K support (dense reference)."""
    out = []
    for xi in x_rows:
        c = A @ xi
        keep = np.zeros(len(c), bool)
        keep[np.argsort(-np.abs(c))[:K]] = True
        out.append(A.T @ (c * keep))
    return np.array(out)


# -- the basis --------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [300, 1000])          # fewer images than pixels, and more
def test_pca_basis_is_orthonormal_ordered_and_deterministic(n):
    x = blurred_images(n, seed=1)
    A = pca_basis(x)
    assert A.shape == (784, 784) and A.dtype == np.float64 and not A.flags.writeable
    np.testing.assert_allclose(A @ A.T, np.eye(784), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(pca_basis(x.copy()), A)                       # same images, same bits
    np.testing.assert_array_equal(pca_basis(x, shape=(28, 28)), A)
    lead = A[np.arange(784), np.abs(A).argmax(axis=1)]
    assert (lead > 0).all()                                                     # the sign convention
    sigma = np.linalg.norm(x.reshape(n, -1) @ A.T, axis=0)                     # ||X a_i|| = sigma_i
    assert (np.diff(sigma[:min(n, 784)]) <= 1e-9 * sigma[0]).all()
    # The leading directions agree with the eigenvectors of X^T X (well separated at the top).
    X = x.reshape(n, -1)
    w, V = np.linalg.eigh(X.T @ X)
    for i in range(5):
        assert abs(abs(V[:, -1 - i] @ A[i]) - 1) < 1e-8


def test_directions_of_small_singular_value_are_accurate_because_x_t_x_is_never_formed():
    """Images X = U diag(sigma) V^T with sigma from 1 down to 1e-7: the SVD of X recovers every
    row of V^T to about eps / gap; eigh(X^T X) would lose the directions with sigma^2 < eps."""
    rng = np.random.default_rng(8)
    U, _ = np.linalg.qr(rng.standard_normal((40, 16)))
    V, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    sigma = np.logspace(0, -7, 16)
    A = pca_basis((U * sigma @ V.T).reshape(40, 4, 4))
    assert A.shape == (16, 16)
    np.testing.assert_allclose(np.abs(np.sum(A * V.T, axis=1)), 1, rtol=0, atol=1e-10)


def test_pca_basis_is_the_eigenbasis_of_the_second_moment_not_the_covariance():
    """Uncentered: the first direction of images that are all near 0.5 is close to the mean image."""
    x = blurred_images(200, seed=2)
    a0 = pca_basis(x)[0]
    mean = x.reshape(200, -1).mean(axis=0)
    assert a0 @ mean / np.linalg.norm(mean) > 0.99


@pytest.mark.parametrize("images,shape,match", [
    (np.zeros((5, 784)), None, r"shape \(n, H, W\)"),
    (np.zeros((0, 28, 28)), None, "n >= 1"),
    (np.zeros((5, 28, 28), dtype=np.uint8), None, "floating point"),
    (np.full((5, 28, 28), np.nan), None, "NaN or infinite"),
    (np.full((5, 28, 28), np.inf), None, "NaN or infinite"),
    (np.zeros((5, 28, 28)), (32, 32), "requested shape"),
])
def test_pca_basis_refuses_bad_images(images, shape, match):
    with pytest.raises(ValueError, match=match):
        pca_basis(images, shape=shape)


# -- H_K in the learned basis -----------------------------------------------------------------
def test_top_k_projection_is_idempotent_and_never_lengthens(synthetic_basis):
    A = synthetic_basis
    sp = Sparsifier.from_matrix(A, rho=0.03)
    x = blurred_images(4, seed=3)
    rows = x.reshape(4, -1)
    P = top_k_projection(A, rows, sp.K)
    r, mask = sp.unclipped(x), sp.support(x)                         # the front end, unclipped
    np.testing.assert_allclose(r.reshape(4, -1), P, atol=1e-12)
    assert (mask.sum(axis=1) == sp.K).all()
    np.testing.assert_allclose(top_k_projection(A, P, sp.K), P, atol=1e-12)   # P_K(P_K x) = P_K x
    assert (np.linalg.norm(P, axis=1) <= np.linalg.norm(rows, axis=1) + 1e-12).all()
    assert (np.linalg.norm(P, axis=1) < 0.999 * np.linalg.norm(rows, axis=1)).all()  # a real projection
    # project(w, x) = A^T M_x S^T w with S = A^T: the same projection, symmetric, idempotent.
    w, v = np.random.default_rng(3).standard_normal((2, 4, 784))
    np.testing.assert_allclose(sp.project(rows, x), P, atol=1e-12)
    Pw = sp.project(w, x)
    np.testing.assert_allclose(sp.project(Pw, x), Pw, atol=1e-12)
    np.testing.assert_allclose(np.sum(Pw * v), np.sum(w * sp.project(v, x)), rtol=1e-10)
    np.testing.assert_allclose(sp(x), np.clip(P, 0, 1).reshape(x.shape), atol=1e-12)


@pytest.mark.parametrize("clipping", [False, True])
def test_exact_vjp_through_the_learned_basis_matches_finite_differences(synthetic_basis, clipping):
    rng = np.random.default_rng(4)
    sp = Sparsifier("learned", rho=0.5, matrix=synthetic_basis)
    if clipping:  # near-binary images: the top-K reconstruction over- and undershoots
        x = np.clip(0.05 + 0.9 * (rng.random((2, 28, 28)) > 0.5) + 0.01 * rng.random((2, 28, 28)), 0, 1)
    else:
        x = 0.3 + 0.4 * blurred_images(2, seed=5)
    r, mask = sp.unclipped(x), sp.support(x)
    assert ((r < 0) | (r > 1)).any() == clipping
    g = rng.standard_normal(x.shape)
    grad = sp.vjp(x, g)
    f = lambda: float(np.sum(g * sp(x)))
    idx = sample(x.size, 60, rng)
    num = numerical_grad(f, x, idx, h=1e-7)
    assert (sp.support(x) == mask).all()                             # h never moved the support
    assert rel_error(grad.reshape(-1)[idx], num) < 1e-6


def test_straight_through_and_bpda_and_dtypes_work_as_for_named_bases(synthetic_basis):
    A = synthetic_basis
    rng = np.random.default_rng(6)
    x = np.clip(0.05 + 0.9 * (rng.random((3, 28, 28)) > 0.5) + 0.01 * rng.random((3, 28, 28)), 0, 1)
    g = rng.standard_normal(x.shape)
    exact = Sparsifier.from_matrix(A)
    assert exact.gradient == "exact" and exact.K == 23 and exact.basis == "learned"
    r, mask = exact.unclipped(x).reshape(3, -1), exact.support(x)
    keep = (r >= 0) & (r <= 1)
    assert not keep.all()
    dense = lambda gz: ((gz @ A.T) * mask) @ A                       # A^T M_x S^T gz, rows
    np.testing.assert_allclose(exact.vjp(x, g).reshape(3, -1), dense(g.reshape(3, -1) * keep), atol=1e-12)
    through = exact.with_gradient("straight-through")
    assert through.matrix is exact.matrix or np.array_equal(through.matrix, exact.matrix)
    np.testing.assert_allclose(through.vjp(x, g).reshape(3, -1), dense(g.reshape(3, -1)), atol=1e-12)
    np.testing.assert_array_equal(exact.with_gradient("bpda").vjp(x, g), g)
    x32 = x.astype(np.float32)
    assert exact(x32).dtype == np.float32 and exact.vjp(x32, g.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(exact(x32), exact(x), atol=1e-5)
    np.testing.assert_array_equal(Sparsifier("learned", matrix=A)(x), exact(x))   # deterministic


@pytest.mark.parametrize("matrix,match", [
    (None, "needs matrix=A"),
    (np.eye(784)[:700], "square"),
    (np.eye(100), "784 x 784"),
    (2 * np.eye(784), "orthonormal"),
    (np.eye(784) + 1e-5 * np.random.default_rng(0).standard_normal((784, 784)), "orthonormal"),
    (np.where(np.eye(784) == 1, np.nan, 0.0), "NaN or infinite"),
    (np.eye(784, dtype=complex), "real numbers"),
])
def test_bad_matrices_are_refused_with_a_message_naming_matrix(matrix, match):
    with pytest.raises(ValueError, match=match) as err:
        Sparsifier(basis="learned", matrix=matrix)
    assert "matrix" in str(err.value)


def test_a_matrix_with_a_named_basis_is_refused():
    with pytest.raises(ValueError, match="only used with basis=\"learned\""):
        Sparsifier(basis="dct", matrix=np.eye(784))


def test_an_orthonormal_matrix_within_tolerance_is_accepted():
    Q, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((784, 784)))
    Sparsifier.from_matrix(Q)                                        # any orthonormal A
    Sparsifier.from_matrix(Q.astype(np.float32))                     # rounded to float32: ~1e-7


# -- on real MNIST ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_pca(mnist_dir):
    train, _ = data.load_dataset("mnist", "train", mnist_dir, download=False)
    test, _ = data.load_dataset("mnist", "test", mnist_dir, download=False)
    return pca_basis(train[:5000]), test


def top_k_energy(A, images, K):
    """Mean over images of the fraction of ||x||^2 in the K largest coefficients (A orthonormal)."""
    c = images.reshape(len(images), -1).astype(np.float64) @ A.T
    e = np.sort(c ** 2, axis=1)[:, ::-1]
    return float(np.mean(e[:, :K].sum(axis=1) / e.sum(axis=1)))


def test_pca_of_mnist_training_images_captures_more_energy_in_k_coefficients_than_the_dct(mnist_pca):
    """Held-out: the basis is fit on 5,000 training images, the energy measured on the 10,000
    test images. Measured: PCA 0.867, DCT 0.716 of ||x||^2 in the top K = 23 (rho = 0.03)."""
    A, test = mnist_pca
    K = Sparsifier.from_matrix(A).K
    pca, dct = top_k_energy(A, test, K), top_k_energy(operators("dct", 1, (28, 28))[0], test, K)
    assert K == 23
    assert pca > dct + 0.1, (pca, dct)
    assert 0.85 < pca < 0.88 and 0.70 < dct < 0.73                  # the numbers quoted above


def test_learned_front_end_with_rho_one_returns_its_input(mnist_pca):
    A, test = mnist_pca
    x = test[:200].astype(np.float64)
    sp = Sparsifier("learned", rho=1.0, matrix=A)
    assert sp.K == 784
    np.testing.assert_allclose(sp.unclipped(x), x, atol=1e-12)       # clip aside: S A = I
    np.testing.assert_allclose(sp(x), x, atol=1e-12)
    assert sp(test[:200]).dtype == np.float32
    np.testing.assert_allclose(sp(test[:200]), test[:200], atol=1e-5)
