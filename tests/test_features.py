"""Tests for gan_lib.metrics.features: FID, Inception Score, class coverage and precision/recall on known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_lib.metrics import class_coverage, frechet_distance, inception_score, precision_recall


def with_moments(z: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """z moved so that its sample mean is exactly `mean` and its unbiased sample covariance exactly diag(var)."""
    z = z.double() - z.double().mean(0)
    evals, evecs = torch.linalg.eigh(z.T @ z / (len(z) - 1))
    white = z @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T  # sample covariance = I
    return white * var.sqrt() + mean


# --- Fréchet distance -----------------------------------------------------------------------------


def test_fd_of_a_set_with_itself_is_zero() -> None:
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_fd_of_a_translated_set_is_the_squared_shift() -> None:
    """Same sample, shifted by m: equal covariances, so only ||m||^2 remains (up to round-off)."""
    x = torch.randn(400, 5, generator=torch.Generator().manual_seed(1))
    m = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(x, x + m) == pytest.approx(float(m.square().sum()), abs=1e-6)


def test_fd_of_independent_gaussian_samples_shifted_by_m() -> None:
    """Samples of N(0, C) and N(m, C), N = 20000 each: FD ~ ||m||^2 = 9. The noise is dominated by 2 m.(mean error),
    of std sqrt(8 m'Cm / N) = 0.07 here; the bias of the covariance term is O(d^2 / N). Tolerance: about 4 std."""
    gen = torch.Generator().manual_seed(2)
    scale = torch.tensor([1.0, 2.0, 0.5, 1.0]).sqrt()  # C = diag(1, 2, 0.5, 1), m'Cm = 12.5
    m = torch.tensor([2.0, -2.0, 1.0, 0.0])
    a = torch.randn(20_000, 4, generator=gen) * scale
    b = torch.randn(20_000, 4, generator=gen) * scale + m
    assert frechet_distance(a, b) == pytest.approx(9.0, abs=0.3)


def test_fd_closed_form_for_diagonal_gaussians() -> None:
    """Sample moments equal to (mu, diag s) by construction: FD = ||mu_a - mu_b||^2 + sum (sqrt s_a - sqrt s_b)^2."""
    gen = torch.Generator().manual_seed(3)
    mu_a, mu_b = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64), torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    var_a, var_b = (
        torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64),
        torch.tensor([9.0, 1.0, 0.25], dtype=torch.float64),
    )
    a = with_moments(torch.randn(50, 3, generator=gen), mu_a, var_a)
    b = with_moments(torch.randn(80, 3, generator=gen), mu_b, var_b)
    expected = float((mu_a - mu_b).square().sum() + (var_a.sqrt() - var_b.sqrt()).square().sum())  # 6.25 + 8 = 14.25
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_fd_with_non_commuting_covariances_matches_eigenvalues_of_the_product() -> None:
    """tr((S_a S_b)^1/2) is the sum of the square roots of the eigenvalues of S_a S_b; FD is symmetric."""
    gen = torch.Generator().manual_seed(4)
    a = torch.randn(300, 6, generator=gen) @ torch.randn(6, 6, generator=gen)
    b = torch.randn(200, 6, generator=gen) @ torch.randn(6, 6, generator=gen) + 1.0
    an, bn = a.double().numpy(), b.double().numpy()
    cov_a, cov_b = np.cov(an, rowvar=False), np.cov(bn, rowvar=False)
    cross = np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real.clip(min=0)).sum()
    expected = ((an.mean(0) - bn.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_fd_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="feature dimensions differ: feats_a has 3, feats_b has 4"):
        frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(ValueError, match="feats_b must be a 2-D"):
        frechet_distance(torch.zeros(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match="feats_a needs at least 2 rows"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(10, 3))


# --- Inception Score ------------------------------------------------------------------------------


def test_is_is_one_for_a_single_confident_class() -> None:
    probs = torch.zeros(100, 10)
    probs[:, 3] = 1.0
    assert inception_score(probs) == (pytest.approx(1.0, abs=1e-12), pytest.approx(0.0, abs=1e-12))


def test_is_is_the_class_count_for_confident_balanced_predictions() -> None:
    probs = torch.eye(10)[torch.arange(200) % 10]  # every chunk of 20 holds each class twice
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_is_one_for_uniform_predictions() -> None:
    assert inception_score(torch.full((30, 4), 0.25), splits=3)[0] == pytest.approx(1.0, rel=1e-12)


def test_is_two_class_hand_computation() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9]]).repeat(5, 1)
    kl = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert inception_score(probs, splits=1) == (pytest.approx(math.exp(kl), rel=1e-6), 0.0)


def test_is_mean_and_population_std_over_chunks() -> None:
    """First half one class (IS 1), second half two classes evenly (IS 2): mean 1.5, population std 0.5."""
    probs = torch.eye(3)[torch.tensor([0] * 10 + [1, 2] * 5)]
    mean, std = inception_score(probs, splits=2)
    assert mean == pytest.approx(1.5, rel=1e-12) and std == pytest.approx(0.5, rel=1e-12)


def test_is_matches_the_reference_numpy_code_with_uneven_chunks() -> None:
    """The Salimans et al. (2016) loop, chunk i = rows [i N // splits, (i + 1) N // splits), on 103 random rows."""
    probs = torch.softmax(3 * torch.randn(103, 10, generator=torch.Generator().manual_seed(5)), 1)
    preds = probs.double().numpy()
    scores = []
    for i in range(10):
        part = preds[i * 103 // 10 : (i + 1) * 103 // 10]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    mean, std = inception_score(probs)
    assert mean == pytest.approx(np.mean(scores), rel=1e-6) and std == pytest.approx(np.std(scores), rel=1e-5)


def test_is_rejects_logits_and_bad_splits() -> None:
    with pytest.raises(ValueError, match="class probabilities"):
        inception_score(torch.randn(20, 10, generator=torch.Generator().manual_seed(6)))
    with pytest.raises(ValueError, match="class probabilities"):
        inception_score(torch.full((20, 10), 0.2))
    with pytest.raises(ValueError, match=r"splits must be between 1 and the number of rows \(5\), got 10"):
        inception_score(torch.full((5, 2), 0.5))
    with pytest.raises(ValueError, match="non-empty 2-D"):
        inception_score(torch.full((5,), 0.2))


# --- class coverage -------------------------------------------------------------------------------


def test_coverage_of_a_single_class_is_log_c() -> None:
    probs = torch.softmax(torch.tensor([[0.0, 5.0, 0.0, 0.0, 0.0]]), 1).repeat(40, 1)
    hist, kl = class_coverage(probs)
    torch.testing.assert_close(hist, torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64))
    assert kl == pytest.approx(math.log(5), rel=1e-12)


def test_coverage_of_balanced_classes_is_zero() -> None:
    hist, kl = class_coverage(torch.eye(10)[torch.arange(50) % 10])
    torch.testing.assert_close(hist, torch.full((10,), 0.1, dtype=torch.float64))
    assert kl == pytest.approx(0.0, abs=1e-12)


def test_coverage_of_half_the_classes_is_log_2() -> None:
    """(1/2, 1/2, 0, 0): the empty classes contribute 0 log 0 = 0, leaving log(4/2)."""
    hist, kl = class_coverage(torch.eye(4)[torch.tensor([0, 2, 0, 2])])
    assert hist.tolist() == [0.5, 0.0, 0.5, 0.0]
    assert kl == pytest.approx(math.log(2), rel=1e-12)


# --- precision and recall -------------------------------------------------------------------------


def test_pr_of_a_set_with_itself_is_one_one() -> None:
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(7))
    assert precision_recall(x, x, k=3, batch=64) == (1.0, 1.0)


def test_pr_of_far_apart_sets_is_zero_zero() -> None:
    gen = torch.Generator().manual_seed(8)
    real, fake = torch.randn(200, 4, generator=gen), torch.randn(150, 4, generator=gen) + 50.0
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_pr_of_a_collapsed_generator_is_precise_but_not_diverse() -> None:
    """Fakes packed near the centre of N(0, I): all plausible, but their balls hold only the few central reals."""
    gen = torch.Generator().manual_seed(9)
    real, fake = torch.randn(2000, 2, generator=gen), 0.1 * torch.randn(500, 2, generator=gen)
    precision, recall = precision_recall(real, fake)
    assert precision > 0.98
    assert recall < 0.1


def test_pr_hand_computed_one_dimensional_case() -> None:
    """k = 1. Real radii: 1, 1, 1 and 8 (the outlier 10 reaches back to 2). Fake radii: 4.5, 4.5, 15.
    Precision: 0.5 and 5 (inside the outlier's ball) are covered, 20 is not. Recall: every real is covered."""
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    fake = torch.tensor([[0.5], [5.0], [20.0]])
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(2 / 3) and recall == 1.0
    assert precision_recall(fake, real, k=1) == (1.0, pytest.approx(2 / 3))


def test_pr_does_not_depend_on_the_batch() -> None:
    gen = torch.Generator().manual_seed(10)
    real, fake = torch.randn(120, 5, generator=gen), 0.8 * torch.randn(90, 5, generator=gen) + 0.5
    ref = precision_recall(real, fake, k=5)
    assert 0 < ref[0] < 1 and 0 < ref[1] < 1
    for batch in (1, 7, 90):
        assert precision_recall(real, fake, k=5, batch=batch) == ref


def test_pr_rejects_bad_input() -> None:
    x = torch.zeros(5, 3)
    with pytest.raises(ValueError, match="feature dimensions differ: real_feats has 3, fake_feats has 2"):
        precision_recall(x, torch.zeros(5, 2))
    with pytest.raises(ValueError, match="fake_feats needs at least 4 rows for k = 3 neighbours, got 3"):
        precision_recall(x, torch.zeros(3, 3), k=3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        precision_recall(x, x, k=0)
    with pytest.raises(ValueError, match="batch must be at least 1"):
        precision_recall(x, x, batch=0)
