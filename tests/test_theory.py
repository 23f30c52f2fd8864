"""The paper's theorems, checked numerically (each test fails when its property fails)."""
import numpy as np
import pytest

from sparsenet import attacks, data
from sparsenet.models import prune
from sparsenet.layers import Dense, ReLU
from sparsenet.models import Classifier, Sequential, cnn4, fc2
from sparsenet.parallel import DataParallel
from sparsenet.frontend import Sparsifier, operators
from sparsenet.theory import (certified_radius, gammas, high_snr_fraction, layer_bounds, linear_distortions,
                              measured_layer_perturbations)
from sparsenet.training import fit, set_penalty


def random_net(sizes, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, rng=rng, dtype=np.float64))
        layers[-1].params["b"][:] = 0.1 * rng.standard_normal(b)
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(layers, input_shape=(sizes[0],), dtype=np.float64)


def sign_gradient_perturbation(net, x, eps, steps=10):
    """An adversarial (iterative sign-gradient) perturbation pushing every logit up."""
    e = np.zeros_like(x)
    for _ in range(steps):
        net.forward(x + e)
        g = net.backward(np.ones((len(x), net.n_logits)), param_grads=False)
        e = np.clip(e + eps / 4 * np.sign(g), -eps, eps)
    return e


@pytest.mark.parametrize("sizes", [(20, 30, 5), (50, 40, 40, 3), (100, 10, 1)])
def test_theorem2_bound_holds_at_every_layer_random_networks(sizes):
    rng = np.random.default_rng(0)
    net, eps = random_net(sizes, 1), 0.1
    x = rng.standard_normal((64, sizes[0]))
    for e in (eps * rng.choice([-1.0, 1.0], x.shape), sign_gradient_perturbation(net, x, eps)):
        measured = measured_layer_perturbations(net, x, x + e)
        assert (measured <= layer_bounds(net, eps) * (1 + 1e-12)).all()


def test_theorem2_bound_is_tight_for_a_single_linear_layer():
    """For one layer, e = eps sgn(w_i) of the neuron with the largest l1 norm attains the bound;
    using column instead of row norms of W would break this equality."""
    net = random_net((30, 4), 2)
    W = net.weighted[0].params["W"]                       # (n_in, n_out): neuron i is column i
    i = np.abs(W).sum(axis=0).argmax()
    x = np.zeros((1, 30))
    e = 0.2 * np.sign(W[:, i])[None]
    measured = measured_layer_perturbations(net, x, x + e)[0, -1]
    assert measured == pytest.approx(layer_bounds(net, 0.2)[-1], rel=1e-12)
    assert gammas(net)[0] == pytest.approx(np.abs(W).sum(axis=0).max())


def positive_dense(n_in, n_out, gamma, rng):
    """A Dense layer with positive weights whose every column (neuron) has l1 norm gamma, while
    its rows' l1 norms all differ; positive biases keep every ReLU on for positive inputs."""
    layer = Dense(n_in, n_out, rng=rng, dtype=np.float64)
    W = rng.uniform(0.1, 1.0, (n_in, n_out))
    layer.params["W"][:] = gamma * W / W.sum(axis=0)
    layer.params["b"][:] = rng.uniform(0.1, 0.5, n_out)
    return layer


@pytest.mark.parametrize("gammas_", [(1.5, 0.7, 2.0), (3.0, 0.5)])
def test_theorem2_bound_is_attained_at_every_layer_of_a_positive_network(gammas_):
    """Positive weights, every ReLU on, e = +eps everywhere: each neuron of layer j moves by
    exactly eps gamma_1 ... gamma_j, so the measured change equals the bound at every layer.
    A bound that adds the gammas, skips one, or takes row norms fails here."""
    rng = np.random.default_rng(11)
    sizes = (12, 9, 7, 4)[:len(gammas_) + 1]
    layers = []
    for i, g in enumerate(gammas_):
        layers.append(positive_dense(sizes[i], sizes[i + 1], g, rng))
        if i < len(gammas_) - 1:
            layers.append(ReLU())
    net = Sequential(layers, input_shape=(sizes[0],), dtype=np.float64)
    np.testing.assert_allclose(gammas(net), gammas_, rtol=1e-12)
    x, eps = rng.random((5, sizes[0])), 0.03
    measured = measured_layer_perturbations(net, x, x + eps)
    expected = eps * np.cumprod(gammas_)
    np.testing.assert_allclose(layer_bounds(net, eps), expected, rtol=1e-12)
    np.testing.assert_allclose(measured, np.broadcast_to(expected, measured.shape), rtol=1e-9)


def test_theorem2_bound_is_attained_through_conv_and_max_pool():
    """The same with a 'valid' convolution (each output channel's kernel has l1 norm gamma_1)
    and a max-pool: every window rises by the same amount, so its max does too."""
    from sparsenet.layers import Conv2D, Flatten, MaxPool2D, Reshape
    rng = np.random.default_rng(12)
    conv = Conv2D(1, 3, 3, "valid", rng=0, dtype=np.float64)
    K = rng.uniform(0.1, 1.0, conv.params["W"].shape)
    conv.params["W"][:] = 1.2 * K / K.sum(axis=(0, 1, 2))
    conv.params["b"][:] = 0.1
    net = Sequential([Reshape((8, 8, 1)), conv, ReLU(), MaxPool2D(), Flatten(), positive_dense(27, 2, 0.8, rng)],
                     input_shape=(8, 8), dtype=np.float64)
    np.testing.assert_allclose(gammas(net), [1.2, 0.8], rtol=1e-12)
    x, eps = rng.random((3, 8, 8)), 0.05
    expected = eps * np.array([1.2, 1.2 * 0.8])
    np.testing.assert_allclose(layer_bounds(net, eps), expected, rtol=1e-12)
    np.testing.assert_allclose(measured_layer_perturbations(net, x, x + eps), np.tile(expected, (3, 1)), rtol=1e-9)


def test_theorem2_on_cnn4_with_conv_and_pool_layers():
    rng = np.random.default_rng(3)
    net = cnn4(seed=0, dtype=np.float64)
    x = rng.random((4, 28, 28))
    e = 0.05 * rng.choice([-1.0, 1.0], x.shape)
    assert (measured_layer_perturbations(net, x, np.clip(x + e, 0, 1)) <= layer_bounds(net, 0.05)).all()
    assert len(layer_bounds(net, 0.05)) == 5


@pytest.fixture(scope="module")
def sparse_and_plain_fc2(mnist_dir):
    x, y = data.load_binary("mnist", "train", mnist_dir)
    nets = {}
    for name in ("plain", "sparse"):
        net = fc2(seed=0, dtype=np.float64)
        if name == "sparse":
            set_penalty(net, l1=0.03, layers=[0])
        fit(net, x[:3000], y[:3000], epochs=3, batch_size=32, seed=0, log=lambda m: None)
        if name == "sparse":
            prune(net.weighted[0], 0.03)
        nets[name] = net
    xt, yt = data.load_binary("mnist", "test", mnist_dir)
    return nets, xt[:300].astype(np.float64), yt[:300]


def test_theorem2_holds_on_trained_fc2_and_sparsity_shrinks_the_bound(sparse_and_plain_fc2):
    nets, x, y = sparse_and_plain_fc2
    eps = 0.1
    for net in nets.values():
        adv = attacks.iterative_fgsm(Classifier(net), x, y, eps, eps / 5, 10)
        measured = measured_layer_perturbations(net, x, adv)
        assert (measured <= layer_bounds(net, eps) * (1 + 1e-9)).all()
    assert layer_bounds(nets["sparse"], eps)[-1] < layer_bounds(nets["plain"], eps)[-1] / 5


def test_certified_radius_is_never_broken(sparse_and_plain_fc2):
    nets, x, y = sparse_and_plain_fc2
    net = nets["sparse"]
    r = certified_radius(net, x, y)
    clf = Classifier(net)
    correct = clf.predict(x) == y
    assert (r[correct] > 0).mean() > 0.9 and (r[~correct] == 0).all()
    rng = np.random.default_rng(4)
    for scale in (0.99,):
        eps = scale * r                                   # per-example budget just inside the radius
        adv = np.clip(x + eps[:, None, None] * rng.choice([-1.0, 1.0], x.shape), 0, 1)
        assert (clf.predict(adv)[correct] == y[correct]).all()
        sw = attacks.locally_linear(clf, x, y, 1.0)       # the worst direction for the binary net
        worst = np.clip(x + eps[:, None, None] * np.sign(sw - x), 0, 1)
        assert (clf.predict(worst)[correct] == y[correct]).all()


def opposed_logits_net():
    """Three logits: columns w, -w and w/2 of a single Dense layer, so Gamma = ||w||_1 and the
    perturbation -eps sgn(w) lowers logit 0 by eps Gamma while it raises logit 1 by eps Gamma:
    the multiclass bound (margin shrinks by at most 2 eps Gamma) is attained. Logit 2 (bias -50)
    is never the runner-up."""
    rng = np.random.default_rng(13)
    w = rng.standard_normal(20)
    layer = Dense(20, 3, rng=0, dtype=np.float64)
    layer.params["W"][:] = np.stack([w, -w, w / 2], axis=1)
    layer.params["b"][:] = [0.0, 0.0, -50.0]
    return Sequential([layer], input_shape=(20,), dtype=np.float64), w


def test_multiclass_certified_radius_is_the_margin_over_two_gamma_and_is_tight():
    net, w = opposed_logits_net()
    rng = np.random.default_rng(14)
    x = rng.random((200, 20))
    y_logits = net.forward(x)
    y = y_logits.argmax(axis=1)
    Gamma = np.abs(w).sum()
    r = certified_radius(net, x, y)
    top2 = np.sort(y_logits, axis=1)
    np.testing.assert_allclose(r, (top2[:, -1] - top2[:, -2]) / (2 * Gamma), rtol=1e-12)
    wrong = (y + 1) % 3
    assert (certified_radius(net, x, wrong) == 0).all()          # misclassified: radius 0
    on_0 = y == 0
    assert on_0.sum() > 10 and (y == 1).any()
    # Inside the radius nothing changes; just outside, the worst direction changes the class.
    attack = -np.sign(w)[None] * r[:, None]
    assert (net.forward(x + 0.999 * attack).argmax(axis=1)[on_0] == 0).all()
    assert (net.forward(x + 1.001 * attack).argmax(axis=1)[on_0] == 1).all()
    for scale in (0.999,):
        noise = scale * r[:, None] * rng.choice([-1.0, 1.0], x.shape)
        assert (net.forward(x + noise).argmax(axis=1) == y).all()


def test_binary_certified_radius_is_the_logit_over_gamma():
    net = random_net((10, 1), 15)
    x = np.random.default_rng(16).standard_normal((50, 10))
    logit = net.forward(x)[:, 0]
    y = (logit > 0).astype(int)
    Gamma = np.abs(net.weighted[0].params["W"]).sum()
    np.testing.assert_allclose(certified_radius(net, x, y), np.abs(logit) / Gamma, rtol=1e-12)
    assert (certified_radius(net, x, 1 - y) == 0).all()


def test_theorem1_high_snr_fraction_rises_towards_one():
    Ns = [64, 256, 1024, 4096, 16384]
    shares = [high_snr_fraction(N, M=1000, delta=0.01, C=0.003, trials=4, rng=N) for N in Ns]
    assert all(b >= a - 0.02 for a, b in zip(shares, shares[1:]))   # monotone up to Monte-Carlo noise
    # MC std at M x trials = 4,000 neurons is under 0.01; the largest N is essentially all high SNR.
    assert shares[0] < 0.8 and shares[-1] > 0.995


@pytest.mark.parametrize("wrap", [Classifier, DataParallel], ids=["Classifier", "DataParallel"])
def test_theorem2_reads_the_network_of_a_classifier_without_front_end(wrap):
    """layer_bounds, gammas, the measured perturbations and the certified radius of a
    Classifier (or DataParallel) without front end are those of its network."""
    rng = np.random.default_rng(4)
    net = cnn4(seed=1, dtype=np.float64)
    clf = wrap(net)
    x, y = rng.random((4, 28, 28)), rng.integers(0, 10, 4)
    np.testing.assert_array_equal(layer_bounds(clf, 0.1), layer_bounds(net, 0.1))
    np.testing.assert_array_equal(gammas(clf), gammas(net))
    np.testing.assert_array_equal(measured_layer_perturbations(clf, x, x + 0.01),
                                  measured_layer_perturbations(net, x, x + 0.01))
    np.testing.assert_array_equal(certified_radius(clf, x, y), certified_radius(net, x, y))


def test_theory_rejects_bad_input():
    with pytest.raises(ValueError, match="eps must be"):
        layer_bounds(fc2(), -1.0)
    with pytest.raises(ValueError, match="need w"):
        linear_distortions(np.ones((2, 8)), np.eye(8), np.ones((2, 4), bool))


def sparse_support(N, K, trials, rng):
    """x exactly K-sparse: K coefficients chosen at random, per trial."""
    keys = rng.random((trials, N))
    return keys < np.sort(keys, axis=1)[:, [K]]


@pytest.mark.parametrize("basis", ["haar", "dct"])
def test_section31_semi_white_box_attenuation_is_K_over_N(basis):
    """E[Delta_SW] / (eps ||w||_1) = K/N for i.i.d. Gaussian w, whatever the orthonormal
    basis (E[w sgn(w)^T] is a multiple of I); the white box is never weaker (Hoelder)."""
    rng = np.random.default_rng(0)
    for N in (256, 1024, 4096):
        A, _ = operators(basis, None, (N,))
        for K in (16, N // 16):
            w = rng.standard_normal((100, N))
            sw, wb = linear_distortions(w, A, sparse_support(N, K, 100, rng))
            assert 0.85 < sw.mean() * N / K < 1.15, (N, K, sw.mean() * N / K)
            assert (wb >= sw - 1e-12).all()


@pytest.mark.parametrize("basis", ["haar", "db4", "dct"])
def test_linear_distortions_by_their_definition(basis):
    """P_K w = sum over the support of <w, psi_k> psi_k, with psi_k the rows of A (the basis
    vectors); Delta_SW = |<sgn w, P_K w>| and Delta_W = ||P_K w||_1, both over ||w||_1."""
    rng = np.random.default_rng(6)
    N = 16
    A, _ = operators(basis, None, (N,))
    w = rng.standard_normal((3, N))
    support = rng.random((3, N)) < 0.3
    sw, wb = linear_distortions(w, A, support)
    for t in range(3):
        p = sum(np.dot(w[t], A[k]) * A[k] for k in np.flatnonzero(support[t]))
        l1 = np.abs(w[t]).sum()
        assert sw[t] == pytest.approx(abs(np.dot(np.sign(w[t]), p)) / l1, rel=1e-12)
        assert wb[t] == pytest.approx(np.abs(p).sum() / l1, rel=1e-12)


def test_section31_white_box_attenuation_is_K_polylog_N_only_for_a_localized_basis():
    """At fixed K, Delta_W / (eps ||w||_1) * N / K stays O(polylog N) for wavelets, whose
    basis vectors have small l1 norm, but grows like sqrt(N / K) for the DCT."""
    rng = np.random.default_rng(1)
    K, Ns = 16, (256, 1024, 4096)
    scaled = {}
    for basis in ("haar", "db4", "dct"):
        scaled[basis] = []
        for N in Ns:
            A, _ = operators(basis, None, (N,))
            _, wb = linear_distortions(rng.standard_normal((50, N)), A, sparse_support(N, K, 50, rng))
            scaled[basis].append(wb.mean() * N / K)
    for basis in ("haar", "db4"):
        assert all(v < np.log2(N) for v, N in zip(scaled[basis], Ns)), (basis, scaled[basis])
        assert scaled[basis][-1] / scaled[basis][0] < 2              # polylog, not sqrt(16) = 4
    assert 3 < scaled["dct"][-1] / scaled["dct"][0] < 5              # sqrt(4096 / 256) = 4
    assert scaled["dct"][-1] > 4 * scaled["haar"][-1]


def test_section31_wavelets_attenuate_the_white_box_attack_more_than_the_dct_on_mnist(mnist_dir):
    """The take-away on real digits: P_K w for the top 3% of coefficients of each image
    keeps less l1 mass of a random w in a (localized) wavelet basis than in the DCT."""
    x, _ = data.load_dataset("mnist", "test", mnist_dir)
    x = x[:200].astype(np.float64)
    w = np.random.default_rng(2).standard_normal(x.shape)
    ratio = {}
    for basis in ("cdf97", "haar", "db4", "dct"):
        p = Sparsifier(basis=basis, rho=0.03).project(w, x)
        ratio[basis] = (np.abs(p).sum(axis=(1, 2)) / np.abs(w).sum(axis=(1, 2))).mean()
    assert max(ratio["cdf97"], ratio["haar"], ratio["db4"]) < 0.5 * ratio["dct"], ratio


def test_multiclass_fgsm_direction_is_the_locally_linear_formula():
    """Section 3.6: e_FGSM = eps sgn(w_eq^t (p_t - 1) + sum_{k != t} w_eq^k p_k), exactly."""
    from sparsenet.linear_model import equivalent_linear
    from sparsenet.losses import softmax
    rng = np.random.default_rng(5)
    net = cnn4(seed=1, dtype=np.float64)
    for layer in net.weighted:
        layer.params["W"] *= 2.0          # spread the softmax so every p_k matters
    x, y = rng.random((4, 28, 28)), np.array([1, 4, 7, 9])
    W_eq, _ = equivalent_linear(net, x)
    p = softmax(net.forward(x))
    coef = p.copy()
    coef[np.arange(4), y] -= 1                        # p_t - 1 for the true class, p_k otherwise
    predicted = np.sign(np.einsum("bl,bln->bn", coef, W_eq)).reshape(x.shape)
    _, grad = attacks.loss_gradient(Classifier(net), x, y)   # FGSM's direction before clipping
    np.testing.assert_array_equal(np.sign(grad), predicted)
