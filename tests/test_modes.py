"""Tests for the 2-D benchmarks (gan_lib.data.mixture2d) and their mode metrics (gan_lib.metrics.modes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_lib.config import Config
from gan_lib.data import grid, ring, training_data
from gan_lib.metrics.modes import kl_to_uniform, mode_counts, mode_scores


def test_the_papers_settings() -> None:
    r, g = ring(), grid()
    assert len(r.means) == 8 and r.std == 0.02
    np.testing.assert_allclose(np.linalg.norm(r.means_array(), axis=1), 2.0)
    np.testing.assert_allclose(r.means_array()[2], [0.0, 2.0], atol=1e-12)  # 90 degrees apart every two modes
    assert len(g.means) == 25 and g.std == 0.05
    assert sorted({x for x, _ in g.means}) == [-4.0, -2.0, 0.0, 2.0, 4.0]


@pytest.mark.parametrize("mixture", [ring(), grid()], ids=["ring", "grid"])
def test_density_is_exact_and_integrates_to_one(mixture) -> None:
    peak = 1 / (len(mixture.means) * 2 * math.pi * mixture.std**2)
    assert mixture.pdf(mixture.means_array()[0]) == pytest.approx(peak, rel=1e-9)
    # the integral over a fine grid around the modes (each mode's mass lies within 8 std)
    s, mass = mixture.std, 0.0
    for m in mixture.means_array():
        u = np.linspace(-8 * s, 8 * s, 401)
        xx, yy = np.meshgrid(m[0] + u, m[1] + u)
        mass += mixture.pdf(np.stack([xx, yy], -1)).sum() * (u[1] - u[0]) ** 2
    assert mass == pytest.approx(1.0, abs=1e-3)


def test_sampling_is_seeded_and_fills_every_mode_evenly() -> None:
    a, b = ring().sample(8000, seed=3), ring().sample(8000, seed=3)
    assert a.dtype == torch.float32 and a.shape == (8000, 2) and torch.equal(a, b)
    assert not torch.equal(a, ring().sample(8000, seed=4))
    counts = mode_counts(a.numpy(), ring())
    assert counts.sum() / 8000 == pytest.approx(1 - math.exp(-4.5), abs=0.004)  # the mass within 3 std in 2-D
    assert counts.min() > 900 and counts.max() < 1100


def test_training_data_of_the_2d_datasets() -> None:
    x = training_data(Config(dataset="grid", toy_n=500, seed=1))
    assert x.shape == (500, 2) and torch.equal(x, grid().sample(500, 1))


def test_all_samples_on_one_mode() -> None:
    x = np.tile(ring().means_array()[3], (100, 1))
    s = mode_scores(x, ring())
    assert (s.covered, s.touched, s.high_quality) == (1, 1, 1.0)
    assert s.kl == pytest.approx(math.log(8))


def test_exactly_uniform_over_modes() -> None:
    x = np.repeat(grid().means_array(), 4, axis=0) + 0.01
    s = mode_scores(x, grid())
    assert (s.covered, s.touched, s.high_quality, s.kl) == (25, 25, 1.0, pytest.approx(0.0, abs=1e-12))


def test_samples_far_from_every_mode_count_for_nothing() -> None:
    x = np.full((50, 2), 1.0)  # between the grid's modes, 1.41 from the nearest
    s = mode_scores(x, grid())
    assert (s.covered, s.touched, s.high_quality) == (0, 0, 0.0)
    assert s.kl == pytest.approx(math.log(25))  # no evidence of spread: scored as the worst case


def test_three_std_is_the_border_of_a_mode() -> None:
    m, s = ring().means_array()[0], ring().std
    inside, outside = m + [2.99 * s, 0.0], m + [0.0, 3.01 * s]
    np.testing.assert_array_equal(mode_counts(np.stack([inside, outside]), ring()), [1, 0, 0, 0, 0, 0, 0, 0])


def test_covered_needs_a_fifth_of_the_fair_share_touched_one_sample() -> None:
    means = ring().means_array()
    # 100 samples, fair share 12.5, threshold 2.5: mode 0 holds 93, modes 1 and 2 hold 3 and 2, mode 3 holds 2 + 0 far
    x = np.concatenate([np.tile(means[0], (93, 1)), np.tile(means[1], (3, 1)), np.tile(means[2], (2, 1)),
                        np.tile(means[3], (2, 1))])
    s = mode_scores(x, ring())
    assert (s.covered, s.touched) == (2, 4)
    p = np.array([93, 3, 2, 2]) / 100
    assert s.kl == pytest.approx(float((p * np.log(8 * p)).sum()))


def test_uniform_spread_touches_many_grid_modes_but_covers_none() -> None:
    x = np.random.default_rng(0).uniform(-5, 5, size=(2500, 2))
    s = mode_scores(x, grid())
    assert s.touched >= 20 and s.covered == 0 and s.high_quality < 0.05


def test_kl_to_uniform_of_known_histograms() -> None:
    assert kl_to_uniform(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert kl_to_uniform(np.array([1, 1, 0, 0])) == pytest.approx(math.log(2))
    assert kl_to_uniform(np.array([0, 0, 0])) == pytest.approx(math.log(3))
