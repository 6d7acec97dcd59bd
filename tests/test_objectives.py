"""Tests for gan_lib.objectives: the losses against the naive probability formulas, stability, and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from gan_lib.objectives import discriminator_loss, generator_loss, grad_scale, slope_ratio, value


@pytest.fixture
def logits() -> tuple[torch.Tensor, torch.Tensor]:
    """Moderate logits (|l| < 6) for a real and a fake batch, float64."""
    gen = torch.Generator().manual_seed(0)
    return (
        torch.rand(50, generator=gen, dtype=torch.float64) * 12 - 6,
        torch.rand(40, generator=gen, dtype=torch.float64) * 12 - 6,
    )


def naive_value(lr: torch.Tensor, lf: torch.Tensor) -> torch.Tensor:
    return torch.log(torch.sigmoid(lr)).mean() + torch.log(1 - torch.sigmoid(lf)).mean()


def test_value_equals_naive_formula(logits: tuple[torch.Tensor, torch.Tensor]) -> None:
    lr, lf = logits
    assert value(lr, lf).item() == pytest.approx(naive_value(lr, lf).item(), rel=1e-10)


def test_discriminator_loss_is_half_bce_and_minus_half_value(logits: tuple[torch.Tensor, torch.Tensor]) -> None:
    lr, lf = logits
    bce = torch.nn.functional.binary_cross_entropy
    expected = 0.5 * (bce(torch.sigmoid(lr), torch.ones_like(lr)) + bce(torch.sigmoid(lf), torch.zeros_like(lf)))
    assert discriminator_loss(lr, lf).item() == pytest.approx(expected.item(), rel=1e-10)
    assert discriminator_loss(lr, lf).item() == pytest.approx(-0.5 * value(lr, lf).item(), rel=1e-12)


def test_generator_losses_equal_naive_formulas(logits: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, lf = logits
    d = torch.sigmoid(lf)
    assert generator_loss(lf, "minimax").item() == pytest.approx(torch.log(1 - d).mean().item(), rel=1e-10)
    assert generator_loss(lf, "nonsaturating").item() == pytest.approx(-torch.log(d).mean().item(), rel=1e-10)
    assert generator_loss(lf).item() == generator_loss(lf, "nonsaturating").item()


def test_value_at_chance_is_minus_log_4() -> None:
    zeros = torch.zeros(10)
    assert value(zeros, zeros).item() == pytest.approx(-math.log(4), rel=1e-6)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(math.log(2), rel=1e-6)


def test_extreme_logits_stay_finite_and_exact() -> None:
    big = torch.tensor([100.0])  # float32: sigmoid(100) == 1 exactly, so the naive formulas take log(0)
    assert torch.isinf(torch.log(1 - torch.sigmoid(big))).all()
    assert torch.isinf(torch.log(torch.sigmoid(-big))).all()
    # D is sure and wrong on both: log D(x) = -100, log(1 - D(G(z))) = -100
    assert value(-big, big).item() == pytest.approx(-200.0, rel=1e-6)
    assert discriminator_loss(-big, big).item() == pytest.approx(100.0, rel=1e-6)
    # D is sure and right: V ~ 0
    assert value(big, -big).item() == pytest.approx(0.0, abs=1e-30)
    assert generator_loss(big, "minimax").item() == pytest.approx(-100.0, rel=1e-6)
    assert generator_loss(-big, "nonsaturating").item() == pytest.approx(100.0, rel=1e-6)
    for x in (big, -big):
        assert torch.isfinite(generator_loss(x, "minimax")) and torch.isfinite(generator_loss(x, "nonsaturating"))


def test_extreme_logits_have_finite_gradients() -> None:
    lf = torch.tensor([-100.0, 100.0], requires_grad=True)
    lr = torch.tensor([-100.0, 100.0], requires_grad=True)
    discriminator_loss(lr, lf).backward()
    generator_loss(lf, "nonsaturating").backward()
    assert torch.isfinite(lr.grad).all() and torch.isfinite(lf.grad).all()


def test_generator_gradients_wrt_logits(logits: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, lf = logits
    n = len(lf)
    for kind, expected in [("minimax", -torch.sigmoid(lf) / n), ("nonsaturating", -(1 - torch.sigmoid(lf)) / n)]:
        l = lf.clone().requires_grad_()
        generator_loss(l, kind).backward()
        torch.testing.assert_close(l.grad, expected, rtol=1e-10, atol=1e-14)


def test_saturation_minimax_vanishes_where_nonsaturating_does_not() -> None:
    """Early in training D rejects fakes (very negative logits): the minimax gradient vanishes, the other does not."""
    l = torch.full((4,), -10.0, dtype=torch.float64, requires_grad=True)
    (g_mm,) = torch.autograd.grad(generator_loss(l, "minimax"), l)
    (g_ns,) = torch.autograd.grad(generator_loss(l, "nonsaturating"), l)
    assert g_mm.abs().max() < 2e-5 and g_ns.abs().min() > 0.24


def test_discriminator_gradients_wrt_logits(logits: tuple[torch.Tensor, torch.Tensor]) -> None:
    lr, lf = (t.clone().requires_grad_() for t in logits)
    discriminator_loss(lr, lf).backward()
    torch.testing.assert_close(lr.grad, -0.5 * (1 - torch.sigmoid(lr.detach())) / len(lr), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(lf.grad, 0.5 * torch.sigmoid(lf.detach()) / len(lf), rtol=1e-10, atol=1e-14)


def test_unknown_generator_loss() -> None:
    with pytest.raises(ValueError, match="wasserstein"):
        generator_loss(torch.zeros(2), "wasserstein")
    with pytest.raises(ValueError, match="wasserstein"):
        slope_ratio(torch.zeros(2), "wasserstein")


@pytest.mark.parametrize("kind", ["nonsaturating", "minimax"])
def test_slope_ratio_is_generator_over_discriminator_gradient(
    logits: tuple[torch.Tensor, torch.Tensor], kind: str
) -> None:
    real, fake = logits
    fake = fake.clone().requires_grad_()
    (d_slope,) = torch.autograd.grad(discriminator_loss(real, fake), fake)
    (g_slope,) = torch.autograd.grad(generator_loss(fake, kind), fake)
    torch.testing.assert_close(slope_ratio(fake.detach(), kind), g_slope / d_slope, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    "norm, target, expected", [(0.01, 0.1, 10.0), (0.05, 1.0, 20.0), (1.0, 0.1, 1.0), (0.1, 0.1, 1.0)]
)
def test_grad_scale_is_max_of_one_and_target_over_norm(norm: float, target: float, expected: float) -> None:
    g = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g = g * norm / g.norm()
    assert grad_scale(g, target).item() == pytest.approx(expected, rel=1e-9)
