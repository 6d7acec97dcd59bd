"""Tests for gan_lib.metrics: the Parzen-window estimator against brute force, and the sigma-selection protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_lib.metrics import SIGMAS, ParzenResult, grey_fraction, parzen_evaluate, parzen_log_likelihood


def brute_force(samples: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """float64 logmeanexp_j(-||x - mu_j||^2 / (2 sigma^2)) - d/2 log(2 pi sigma^2), one value per row of x."""
    samples, x = samples.astype(np.float64), x.astype(np.float64)
    d2 = ((x[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    a = -d2 / (2 * sigma**2)
    m = a.max(1, keepdims=True)
    lme = m[:, 0] + np.log(np.exp(a - m).mean(1))
    return lme - samples.shape[1] / 2 * np.log(2 * np.pi * sigma**2)


def test_sigma_grid_is_the_original() -> None:
    assert len(SIGMAS) == 10
    np.testing.assert_array_equal(np.array(SIGMAS), np.logspace(-1, 0, 10))
    assert all(type(s) is float for s in SIGMAS)


@pytest.mark.parametrize("d", [1, 5, 30])
def test_matches_brute_force_low_dim(d: int) -> None:
    rng = np.random.default_rng(d)
    samples, x = rng.normal(size=(60, d)), rng.normal(size=(25, d))
    sigmas = (0.2, 0.5, 1.0, 2.0)
    got = parzen_log_likelihood(torch.from_numpy(samples).float(), torch.from_numpy(x).float(), sigmas)
    assert got.shape == (4, 25) and got.dtype == torch.float64
    for i, s in enumerate(sigmas):
        np.testing.assert_allclose(
            got[i].numpy(), brute_force(samples.astype(np.float32), x.astype(np.float32), s), rtol=1e-6, atol=1e-3
        )


def test_matches_brute_force_on_mnist_like_data(mnist_splits) -> None:
    samples, x = mnist_splits.train_x[:300], mnist_splits.test_x[:40]
    got = parzen_log_likelihood(torch.from_numpy(samples), torch.from_numpy(x), (0.1, 0.2, 0.5))
    for i, s in enumerate((0.1, 0.2, 0.5)):
        expected = brute_force(samples, x, s)
        np.testing.assert_allclose(got[i].numpy(), expected, rtol=0, atol=1e-2)
        assert abs(got[i].numpy().mean() - expected.mean()) < 1e-3


def test_independent_of_batch() -> None:
    gen = torch.Generator().manual_seed(0)
    samples, x = torch.rand(40, 8, generator=gen), torch.rand(23, 8, generator=gen)
    ref = parzen_log_likelihood(samples, x, (0.3, 0.7), batch=500)
    for batch in (1, 4, 23):
        torch.testing.assert_close(parzen_log_likelihood(samples, x, (0.3, 0.7), batch=batch), ref, rtol=0, atol=1e-5)


def test_single_kernel_is_the_gaussian_log_density() -> None:
    mu, x = torch.tensor([[0.3, -1.2, 2.0]]), torch.tensor([[1.0, 0.5, 1.5]])
    for sigma in (0.4, 1.0, 3.0):
        expected = torch.distributions.Normal(mu.double(), sigma).log_prob(x.double()).sum()
        assert parzen_log_likelihood(mu, x, sigma)[0, 0].item() == pytest.approx(expected.item(), rel=1e-6)
    # x on the centre: -d/2 log(2 pi sigma^2)
    at_centre = parzen_log_likelihood(mu, mu, 0.5)[0, 0].item()
    assert at_centre == pytest.approx(-1.5 * math.log(2 * math.pi * 0.25), rel=1e-6)


def test_scalar_sigma_of_any_real_type() -> None:
    gen = torch.Generator().manual_seed(1)
    samples, x = torch.rand(10, 3, generator=gen), torch.rand(4, 3, generator=gen)
    ref = parzen_log_likelihood(samples, x, 1.0)
    assert ref.shape == (1, 4)
    assert torch.equal(parzen_log_likelihood(samples, x, 1), ref)
    assert torch.equal(parzen_log_likelihood(samples, x, np.float64(1.0)), ref)
    assert torch.equal(parzen_log_likelihood(samples, x, [1.0]), ref)


def test_duplicating_every_sample_changes_nothing() -> None:
    """A mean over kernels: repeating the sample set must give the same density."""
    gen = torch.Generator().manual_seed(2)
    samples, x = torch.rand(15, 4, generator=gen), torch.rand(6, 4, generator=gen)
    torch.testing.assert_close(
        parzen_log_likelihood(torch.cat([samples, samples]), x, 0.3),
        parzen_log_likelihood(samples, x, 0.3),
        rtol=0,
        atol=1e-5,
    )


# --- the evaluation protocol ---------------------------------------------------------------------


def test_evaluate_picks_the_known_best_sigma() -> None:
    """One kernel at the origin, data ~ N(0, s0^2 I): the validation mean is maximal at sigma = s0 (a grid value)."""
    s0, d = SIGMAS[4], 200
    gen = torch.Generator().manual_seed(3)
    samples = torch.zeros(1, d)
    valid = s0 * torch.randn(1000, d, generator=gen)
    valid_far = torch.full((500, d), 5.0)  # beyond n_valid: would favour sigma = 1 if it were used
    test = s0 * torch.randn(7, d, generator=gen)
    result = parzen_evaluate(samples, torch.cat([valid, valid_far]), test, n_valid=1000)
    assert isinstance(result, ParzenResult)
    assert result.sigma == s0
    assert max(result.valid_scores, key=result.valid_scores.get) == s0
    assert list(result.valid_scores) == list(SIGMAS)
    # validation scores are the brute-force means over valid[:1000]
    for s, v in result.valid_scores.items():
        assert v == pytest.approx(brute_force(samples.numpy(), valid.numpy(), s).mean(), rel=1e-6)
    # test mean and standard error (population std / sqrt n) at the chosen sigma
    ll = brute_force(samples.numpy(), test.numpy(), s0)
    assert result.mean == pytest.approx(ll.mean(), rel=1e-6)
    assert result.std_err == pytest.approx(ll.std(ddof=0) / math.sqrt(7), rel=1e-5)
    assert result.std_err != pytest.approx(ll.std(ddof=1) / math.sqrt(7), rel=1e-3)
    # the validation images past n_valid, which chose nothing, score the chosen sigma for model selection
    assert result.holdout == pytest.approx(brute_force(samples.numpy(), valid_far.numpy(), s0).mean(), rel=1e-6)
    assert result.to_dict() == {
        "parzen_mean": result.mean,
        "parzen_se": result.std_err,
        "sigma": s0,
        "parzen_valid": result.holdout,
    }


def test_evaluate_matches_brute_force_argmax_on_random_samples() -> None:
    rng = np.random.default_rng(4)
    samples = rng.normal(scale=0.5, size=(200, 10)).astype(np.float32)
    valid = rng.normal(scale=0.5, size=(300, 10)).astype(np.float32)
    test = rng.normal(scale=0.5, size=(50, 10)).astype(np.float32)
    result = parzen_evaluate(torch.from_numpy(samples), torch.from_numpy(valid), torch.from_numpy(test))
    scores = [brute_force(samples, valid, s).mean() for s in SIGMAS]
    assert result.sigma == SIGMAS[int(np.argmax(scores))]
    assert SIGMAS[0] < result.sigma  # the grid's interior, not a trivial edge
    ll = brute_force(samples, test, result.sigma)
    assert result.mean == pytest.approx(ll.mean(), abs=1e-3)
    assert result.std_err == pytest.approx(ll.std() / math.sqrt(50), rel=1e-3)
    assert result.holdout is None and "parzen_valid" not in result.to_dict()  # all 300 validation images chose sigma


def test_grey_fraction_counts_pixels_strictly_between_background_and_stroke() -> None:
    images = torch.tensor([[0.0, 1.0, 0.5, 0.1], [0.9, 0.05, 0.3, 1.0]])
    assert grey_fraction(images) == pytest.approx(2 / 8)  # 0.5 and 0.3; 0.1 and 0.9 are not strictly between
    assert grey_fraction(images, low=0.0, high=1.0) == pytest.approx(5 / 8)
    blurred = torch.full((2, 784), 0.5)
    assert grey_fraction(blurred) == 1.0 and grey_fraction(torch.zeros(2, 784)) == 0.0
    with pytest.raises(ValueError, match="low < high"):
        grey_fraction(images, low=0.9, high=0.1)
