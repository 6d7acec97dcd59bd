"""Unit tests for gan_lib.theory: known values, Theorem 1 and Proposition 2 identities, the idealised algorithm."""

import itertools
import math

import numpy as np
import pytest

from gan_lib import theory

LOG2, LOG4 = math.log(2), math.log(4)


def random_distributions(n: int, count: int, seed: int) -> np.ndarray:
    """`count` random probability vectors of length n with full support (Dirichlet(1))."""
    return np.random.default_rng(seed).dirichlet(np.ones(n), size=count)


def gaussian(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


GRID = np.linspace(-15, 15, 30001)
DX = GRID[1] - GRID[0]


# ---------------------------------------------------------------- D*, V and C


def test_optimal_discriminator_known_values():
    p_data = np.array([1.0, 0.0, 3.0, 0.0])
    p_g = np.array([1.0, 2.0, 1.0, 0.0])
    np.testing.assert_allclose(theory.optimal_discriminator(p_data, p_g), [0.5, 0.0, 0.75, 0.5])


def test_optimal_discriminator_maximises_value():
    p_data, p_g = random_distributions(6, 2, seed=0)
    d_star = theory.optimal_discriminator(p_data, p_g)
    best = theory.value(p_data, p_g, d_star)
    for d in np.random.default_rng(1).uniform(0.01, 0.99, size=(200, 6)):
        assert theory.value(p_data, p_g, d) < best
    assert best == pytest.approx(theory.virtual_criterion(p_data, p_g), abs=1e-15)


def test_value_known_case_and_linear_in_p_g():
    p_data, q1, q2 = random_distributions(5, 3, seed=2)
    d = np.full(5, 0.25)
    assert theory.value(p_data, q1, d) == pytest.approx(math.log(0.25) + math.log(0.75), abs=1e-12)
    d = np.random.default_rng(3).uniform(0.05, 0.95, size=5)
    mixed = theory.value(p_data, 0.3 * q1 + 0.7 * q2, d)
    assert mixed == pytest.approx(0.3 * theory.value(p_data, q1, d) + 0.7 * theory.value(p_data, q2, d), abs=1e-12)


def test_virtual_criterion_at_optimum_is_minus_log_4():
    (p,) = random_distributions(7, 1, seed=4)
    assert theory.virtual_criterion(p, p) == pytest.approx(-LOG4, abs=1e-12)


def test_virtual_criterion_is_minus_log_4_plus_twice_jsd():
    for n in (2, 3, 10, 100):
        for p, q in zip(*np.split(random_distributions(n, 20, seed=n), 2)):
            c = theory.virtual_criterion(p, q)
            assert c == pytest.approx(-LOG4 + 2 * theory.jsd(p, q), abs=1e-12)
            assert -LOG4 < c < 0


def test_virtual_criterion_disjoint_supports_is_zero():
    p_data, p_g = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.0, 1.0])
    assert theory.virtual_criterion(p_data, p_g) == pytest.approx(0.0, abs=1e-15)


def test_virtual_criterion_uniform_densities_by_quadrature():
    """p_data = U[0, 1], p_g = U[0, 2]: D* = 2/3 on [0, 1], 0 on (1, 2], so C = log(2/3) + log(1/3) / 2."""
    x = np.linspace(0, 2, 200001)[:-1] + 0.5e-5  # midpoints of 200000 cells of width 1e-5
    p_data, p_g = (x < 1).astype(float), np.full_like(x, 0.5)
    expected = math.log(2 / 3) + 0.5 * math.log(1 / 3)
    assert theory.virtual_criterion(p_data, p_g, dx=1e-5) == pytest.approx(expected, abs=1e-9)
    assert theory.jsd(p_data, p_g, dx=1e-5) == pytest.approx((expected + LOG4) / 2, abs=1e-9)


def test_virtual_criterion_gaussians_by_quadrature():
    p_data = gaussian(GRID, 0.0, 1.0)
    for mean, std in [(0.0, 1.0), (1.0, 1.0), (0.0, 2.0), (-2.5, 0.5)]:
        p_g = gaussian(GRID, mean, std)
        c = theory.virtual_criterion(p_data, p_g, DX)
        assert c == pytest.approx(-LOG4 + 2 * theory.jsd(p_data, p_g, DX), abs=1e-9)
    assert theory.virtual_criterion(p_data, p_data, DX) == pytest.approx(-LOG4, abs=1e-9)


def test_bernoulli_kl_known_values_and_discriminator_gap():
    kls = theory.bernoulli_kl(np.array([1.0, 0.0, 0.3]), np.array([0.5, 0.5, 0.3]))
    np.testing.assert_allclose(kls, [LOG2, LOG2, 0.0])
    p_data, p_g = random_distributions(6, 2, seed=14)
    d = np.random.default_rng(15).uniform(0.05, 0.95, size=6)
    weighted = np.sum((p_data + p_g) * theory.bernoulli_kl(theory.optimal_discriminator(p_data, p_g), d))
    assert theory.virtual_criterion(p_data, p_g) - theory.value(p_data, p_g, d) == pytest.approx(weighted, abs=1e-12)
    assert weighted > 0


# ---------------------------------------------------------------- KL and JSD


def test_kl_known_values():
    assert theory.kl(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(LOG2, abs=1e-15)
    (p,) = random_distributions(8, 1, seed=5)
    assert theory.kl(p, p) == pytest.approx(0.0, abs=1e-15)


def test_kl_gaussians_match_closed_form():
    m1, s1, m2, s2 = 0.3, 0.8, -1.0, 1.7
    closed = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert theory.kl(gaussian(GRID, m1, s1), gaussian(GRID, m2, s2), DX) == pytest.approx(closed, abs=1e-9)


def test_jsd_identical_disjoint_symmetric_bounded():
    (p,) = random_distributions(9, 1, seed=6)
    assert theory.jsd(p, p) == pytest.approx(0.0, abs=1e-15)
    assert theory.jsd(np.array([0.2, 0.8, 0.0, 0.0]), np.array([0.0, 0.0, 0.6, 0.4])) == pytest.approx(LOG2, abs=1e-15)
    for p, q in zip(*np.split(random_distributions(9, 40, seed=7), 2)):
        assert theory.jsd(p, q) == pytest.approx(theory.jsd(q, p), abs=1e-15)
        assert 0 < theory.jsd(p, q) < LOG2


# ---------------------------------------------------------------- Proposition 2


def test_criterion_gradient_matches_finite_differences():
    p_data, q, q2 = random_distributions(6, 3, seed=8)
    direction, h = q2 - q, 1e-6
    c_plus, c_minus = (theory.virtual_criterion(p_data, q + s * h * direction) for s in (1, -1))
    numeric = (c_plus - c_minus) / (2 * h)
    assert np.dot(theory.criterion_gradient(p_data, q), direction) == pytest.approx(numeric, abs=1e-8)


def test_criterion_gradient_is_a_subgradient():
    """C(q') >= C(q) + <log(1 - D*_q), q' - q> for all q, q' (C is convex; Danskin)."""
    dists = random_distributions(5, 300, seed=9)
    p_data = dists[0]
    for q, q2 in zip(dists[1:150], dists[150:]):
        tangent = theory.virtual_criterion(p_data, q) + np.dot(theory.criterion_gradient(p_data, q), q2 - q)
        assert theory.virtual_criterion(p_data, q2) >= tangent - 1e-12


def test_criterion_gradient_is_constant_at_the_optimum():
    """At p_g = p_data, D* = 1/2 everywhere: the gradient is log(1/2) in every bin, orthogonal to the simplex."""
    (p,) = random_distributions(5, 1, seed=10)
    np.testing.assert_allclose(theory.criterion_gradient(p, p), np.full(5, -LOG2))
    assert theory.criterion_gradient(np.array([1.0, 0.0]), np.array([0.0, 1.0]))[0] == -np.inf


def test_mirror_descent_step_full_step_is_the_mixture():
    p_data, q = random_distributions(7, 2, seed=11)
    np.testing.assert_allclose(theory.mirror_descent_step(p_data, q, 1.0), (p_data + q) / 2, atol=1e-15)


def test_mirror_descent_step_stays_on_simplex_fixes_p_data_and_decreases_c():
    dists = random_distributions(6, 21, seed=12)
    p_data = dists[0]
    np.testing.assert_allclose(theory.mirror_descent_step(p_data, p_data, 0.3), p_data, atol=1e-15)
    for q in dists[1:]:
        for lr in (0.05, 0.5, 1.0):
            new = theory.mirror_descent_step(p_data, q, lr)
            assert new.sum() == pytest.approx(1.0, abs=1e-12) and np.all(new > 0)
            assert theory.virtual_criterion(p_data, new) < theory.virtual_criterion(p_data, q)


def test_mirror_descent_step_rejects_bad_lr_and_empty_p_g():
    p = np.array([0.5, 0.5])
    for lr in (0.0, 1.5):
        with pytest.raises(ValueError, match="lr"):
            theory.mirror_descent_step(p, p, lr)
    with pytest.raises(ValueError, match="no mass"):
        theory.mirror_descent_step(p, np.zeros(2), 0.5)


def test_mirror_descent_step_never_creates_mass():
    """The step multiplies p_g, so an empty bin stays empty for every lr, lr = 1 included (no 0^0 = 1)."""
    p_data, p_g = np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.5, 0.0])
    for lr in (0.3, 0.999, 1.0):
        np.testing.assert_allclose(theory.mirror_descent_step(p_data, p_g, lr), [0.5, 0.5, 0.0], atol=1e-15)
    p_g = np.array([0.7, 0.2, 0.1, 0.0])
    new = theory.mirror_descent_step(np.array([0.1, 0.2, 0.3, 0.4]), p_g, 1.0)
    np.testing.assert_allclose(new, [0.8, 0.4, 0.4, 0.0] / np.float64(1.6), atol=1e-15)  # the mixture on p_g's bins


def test_idealised_training_converges_at_the_relative_smoothness_rate():
    """Mirror descent with lr <= 1 on C (1-smooth relative to the entropy): 2 JSD(p_data, p_t) <= KL(p_data || p_0) / (lr t);
    from a p_0 that misses a bin of p_data it stays at p_data conditioned on p_0's support, and C stays above -log 4."""
    p_data, p_0 = random_distributions(12, 2, seed=16)
    for lr in (0.1, 0.5, 1.0):
        path = theory.idealised_training(p_data, p_0, lr=lr, steps=50)
        bound = theory.kl(p_data, p_0) / lr
        assert all(2 * theory.jsd(p_data, q) <= bound / t for t, q in enumerate(path[1:], start=1))
    p_0[3] = 0.0
    path = theory.idealised_training(p_data, p_0, lr=1.0, steps=60)
    conditioned = np.where(p_0 > 0, p_data, 0.0) / p_data[p_0 > 0].sum()
    np.testing.assert_allclose(path[-1], conditioned, atol=1e-12)
    assert theory.virtual_criterion(p_data, path[-1]) > -LOG4 + 0.01


def test_idealised_training_converges_to_p_data():
    x = np.linspace(-6, 6, 121)
    p_data = 0.5 * gaussian(x, -2, 0.5) + 0.5 * gaussian(x, 2, 0.5)
    p_data /= p_data.sum()
    path = theory.idealised_training(p_data, gaussian(x, 0, 3), lr=0.5, steps=60)
    assert len(path) == 61 and path[0].sum() == pytest.approx(1.0)
    jsds = [theory.jsd(p_data, q) for q in path]
    assert jsds[0] > 0.1 and jsds[-1] < 1e-6
    assert all(a > b for a, b in itertools.pairwise(jsds))
    assert theory.virtual_criterion(p_data, path[-1]) == pytest.approx(-LOG4, abs=2e-6)


def test_idealised_training_full_steps_halve_the_distance():
    """With lr = 1, p_g(t) - p_data = 2^-t (p_g(0) - p_data) exactly."""
    p_data, q = random_distributions(4, 2, seed=13)
    path = theory.idealised_training(p_data, q, lr=1.0, steps=10)
    np.testing.assert_allclose(path[10] - p_data, (q - p_data) / 2**10, atol=1e-15)


def test_bin_probabilities():
    samples = np.array([-0.5, 0.1, 0.2, 0.9, 1.5, 7.0])
    np.testing.assert_allclose(theory.bin_probabilities(samples, np.array([-1.0, 0.0, 1.0, 2.0])), [0.2, 0.6, 0.2])
