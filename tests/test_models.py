"""Tests for gan_lib.models: the paper's G and D (shapes, init, maxout, dropout) and their toy versions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gan_lib.config import Config
from gan_lib.models import (
    Discriminator,
    Generator,
    Maxout,
    _PieceMax,
    build_discriminator,
    build_generator,
    sigmoid_bias_from_marginals,
)


@pytest.fixture(scope="module")
def paper_nets() -> tuple[Generator, Discriminator]:
    """The full-size paper G and D, built once (seeded) for the module."""
    torch.manual_seed(0)
    cfg = Config()
    return build_generator(cfg, 784), build_discriminator(cfg, 784)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_max(z: torch.Tensor) -> torch.Tensor:
    """The max over pieces that Maxout applies to its N x pieces x units linear features."""
    return _PieceMax.apply(z)


def manual_maxout(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pieces: int) -> torch.Tensor:
    """Unit j = max over the linear features j, units + j, ..., (pieces - 1) * units + j (piece-major), by loops."""
    z = x.double() @ weight.double().T + bias.double()
    units = z.shape[1] // pieces
    out = torch.empty(len(x), units, dtype=torch.float64)
    for j in range(units):
        out[:, j] = torch.stack([z[:, i * units + j] for i in range(pieces)], 1).max(1).values
    return out


# --- architecture --------------------------------------------------------------------------------


def test_paper_generator_architecture(paper_nets: tuple[Generator, Discriminator]) -> None:
    G, _ = paper_nets
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(1200, 100), (1200, 1200), (784, 1200)]
    assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 2
    assert G.sigmoid
    assert n_params(G) == 100 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 784 + 784 == 2_503_984


def test_paper_discriminator_architecture(paper_nets: tuple[Generator, Discriminator]) -> None:
    _, D = paper_nets
    h0, h1, y = D.layers
    assert isinstance(h0, Maxout) and isinstance(h1, Maxout) and isinstance(y, nn.Linear)
    assert (h0.units, h0.pieces, tuple(h0.linear.weight.shape)) == (240, 5, (1200, 784))
    assert (h1.units, h1.pieces, tuple(h1.linear.weight.shape)) == (240, 5, (1200, 240))
    assert tuple(y.weight.shape) == (1, 240)
    assert D.keep == [0.8, 0.5, 0.5]
    assert n_params(D) == 784 * 1200 + 1200 + 240 * 1200 + 1200 + 240 + 1 == 1_231_441


def test_output_shapes(paper_nets: tuple[Generator, Discriminator]) -> None:
    G, D = paper_nets
    x = G(torch.randn(3, 100))
    assert x.shape == (3, 784)
    assert D(x).shape == (3,)


def test_relu_discriminator_and_toy_generator() -> None:
    cfg = Config(dataset="toy", noise_dim=2, g_hidden=[8, 4], d_arch="relu", d_hidden=[6, 5])
    G, D = build_generator(cfg, 1), build_discriminator(cfg, 1)
    assert not G.sigmoid
    assert [tuple(m.weight.shape) for m in D.modules() if isinstance(m, nn.Linear)] == [(6, 1), (5, 6), (1, 5)]
    assert sum(isinstance(m, nn.ReLU) for m in D.modules()) == 2
    assert G(torch.randn(4, 2)).shape == (4, 1) and D(torch.randn(4, 1)).shape == (4,)


# --- initialisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("which, irange", [(0, 0.05), (1, 0.005)])
def test_init_ranges(paper_nets: tuple[Generator, Discriminator], which: int, irange: float) -> None:
    net = paper_nets[which]
    for name, p in net.named_parameters():
        if name.endswith("weight"):
            assert p.abs().max() <= irange
            assert p.abs().max() > 0.95 * irange  # really spread over the range, not tiny
            # uniform on [-r, r]: std r / sqrt(3), mean 0
            assert p.std().item() == pytest.approx(irange / math.sqrt(3), rel=0.05)
            assert abs(p.mean().item()) < 0.05 * irange
        else:
            assert torch.all(p == 0), name


def test_generator_output_bias_is_logit_of_clipped_means() -> None:
    torch.manual_seed(1)
    x = torch.rand(200, 6)
    x[:, 0] = 0.0  # mean 0 -> clipped to 1e-7
    x[:, 1] = 1.0  # mean 1 -> clipped to 1 - 1e-7
    bias = sigmoid_bias_from_marginals(x)
    p = np.clip(x.double().numpy().mean(0), 1e-7, 1 - 1e-7)
    expected = np.log(p / (1 - p))
    np.testing.assert_allclose(bias.numpy(), expected, rtol=1e-6)
    assert bias[0].item() == pytest.approx(-16.118, abs=1e-3) and bias[1].item() == pytest.approx(16.118, abs=1e-3)
    assert bias.dtype == torch.float32

    G = build_generator(Config(g_hidden=[5], noise_dim=3), 6, bias)
    assert torch.equal(G.out.bias.detach(), bias)
    assert torch.all(G.hidden[0].bias == 0)


def test_generator_bias_on_real_mnist(mnist_subset: torch.Tensor) -> None:
    bias = sigmoid_bias_from_marginals(mnist_subset)
    assert torch.allclose(torch.sigmoid(bias.double()), mnist_subset.double().mean(0).clamp(1e-7, 1 - 1e-7), atol=1e-6)


def test_generator_output_in_unit_interval(paper_nets: tuple[Generator, Discriminator]) -> None:
    G, _ = paper_nets
    x = G(1000 * torch.randn(64, 100))  # extreme noise saturates the sigmoid
    assert x.min() >= 0 and x.max() <= 1
    assert (x == 0).any() or (x == 1).any() or x.max() - x.min() > 0.5


# --- maxout --------------------------------------------------------------------------------------


def test_maxout_is_max_over_each_units_pieces() -> None:
    torch.manual_seed(2)
    layer = Maxout(7, 4, 3)
    with torch.no_grad():
        layer.linear.weight.normal_()
        layer.linear.bias.normal_()
    x = torch.randn(9, 7)
    expected = manual_maxout(x, layer.linear.weight.detach(), layer.linear.bias.detach(), 3)
    torch.testing.assert_close(layer(x).double(), expected, rtol=1e-5, atol=1e-5)


def test_maxout_group_membership() -> None:
    """With an identity linear map, unit j must see exactly inputs j, 2 + j, 4 + j, 6 + j, 8 + j."""
    layer = Maxout(10, 2, 5)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.eye(10))
        layer.linear.bias.zero_()
    x = torch.zeros(10, 10)
    for i in range(10):
        x[i, i] = 1.0
    out = layer(x)
    assert torch.equal(out[0::2], torch.tensor([[1.0, 0.0]] * 5))
    assert torch.equal(out[1::2], torch.tensor([[0.0, 1.0]] * 5))


def test_maxout_gradient_goes_to_the_winning_piece() -> None:
    """Same gradient as autograd's max on distinct values; with a tie every maximal piece gets it (Theano's rule)."""
    layer = Maxout(6, 2, 3)
    z = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 2, dtype=torch.float64)
    (ours,) = torch.autograd.grad(layer_max(z), z, g)
    (ref,) = torch.autograd.grad(z.max(1).values, z, g)
    torch.testing.assert_close(ours, ref)
    tie = torch.tensor([[[1.0], [1.0], [0.0]]], requires_grad=True)
    (grad,) = torch.autograd.grad(layer_max(tie), tie, torch.ones(1, 1))
    assert grad.flatten().tolist() == [1.0, 1.0, 0.0]
    assert layer.pieces == 3 and layer.units == 2


def test_discriminator_forward_matches_manual(paper_nets: tuple[Generator, Discriminator]) -> None:
    _, D = paper_nets
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(5, 784, generator=gen)
    masks = D.dropout_masks(5, gen)
    h0, h1, y = D.layers
    a = manual_maxout(x * masks[0], h0.linear.weight.detach(), h0.linear.bias.detach(), 5)
    b = manual_maxout(a * masks[1].double(), h1.linear.weight.detach(), h1.linear.bias.detach(), 5)
    logit = (b * masks[2].double()) @ y.weight.detach().double().T + y.bias.detach().double()
    torch.testing.assert_close(D(x, masks).double(), logit.squeeze(1), rtol=1e-4, atol=1e-7)
    # all-ones masks are the same as no masks
    ones = [torch.ones_like(m) for m in masks]
    assert torch.equal(D(x, ones), D(x))


def test_data_rows_skip_only_their_input_gradient(paper_nets: tuple[Generator, Discriminator]) -> None:
    """D(x, masks, data_rows=n): the same logits and parameter gradients, the same input gradient for rows >= n, and
    zero for the data rows, whose share of the first layer's input gradient is never computed."""
    _, D = paper_nets
    gen = torch.Generator().manual_seed(10)
    x = torch.rand(6, 784, generator=gen).requires_grad_()
    masks, weights = D.dropout_masks(6, gen), torch.randn(6, generator=gen)
    grads = []
    for data_rows in (0, 2):
        logits = D(x, masks, data_rows=data_rows)
        grads.append((logits, *torch.autograd.grad((logits * weights).sum(), [x, *D.parameters()])))
    (full, full_x, *full_params), (skip, skip_x, *skip_params) = grads
    assert torch.equal(full, skip)
    assert all(torch.equal(a, b) for a, b in zip(full_params, skip_params, strict=True))
    torch.testing.assert_close(skip_x[2:], full_x[2:], rtol=1e-6, atol=0)
    assert skip_x[:2].abs().max() == 0 and full_x[:2].abs().max() > 0


# --- dropout -------------------------------------------------------------------------------------


def test_dropout_mask_values_and_keep_fractions(paper_nets: tuple[Generator, Discriminator]) -> None:
    _, D = paper_nets
    n = 2000
    masks = D.dropout_masks(n, torch.Generator().manual_seed(4))
    assert [tuple(m.shape) for m in masks] == [(n, 784), (n, 240), (n, 240)]
    for m, keep in zip(masks, [0.8, 0.5, 0.5]):
        values = set(m.unique().tolist())
        assert values == {0.0, 1 / keep}
        assert (m > 0).float().mean().item() == pytest.approx(keep, abs=0.005)
        assert m.mean().item() == pytest.approx(1.0, abs=0.01)  # the scaling keeps the expectation


def test_a_keep_probability_of_one_keeps_every_unit() -> None:
    D = build_discriminator(Config(d_hidden=[4], d_keep_input=1.0, d_keep_hidden=0.5), 2)
    masks = D.dropout_masks(1000, torch.Generator().manual_seed(4))
    assert torch.equal(masks[0], torch.ones(1000, 2))
    assert (masks[1] > 0).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_dropout_masks_reproducible_from_seed(paper_nets: tuple[Generator, Discriminator]) -> None:
    _, D = paper_nets
    a = D.dropout_masks(10, torch.Generator().manual_seed(5))
    b = D.dropout_masks(10, torch.Generator().manual_seed(5))
    c = D.dropout_masks(10, torch.Generator().manual_seed(6))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not all(torch.equal(u, v) for u, v in zip(a, c))


def test_dropout_changes_the_output(paper_nets: tuple[Generator, Discriminator]) -> None:
    _, D = paper_nets
    x = torch.rand(8, 784, generator=torch.Generator().manual_seed(7))
    masked = D(x, D.dropout_masks(8, torch.Generator().manual_seed(8)))
    assert not torch.allclose(masked, D(x))


def test_discriminator_without_masks_is_deterministic(paper_nets: tuple[Generator, Discriminator]) -> None:
    _, D = paper_nets
    x = torch.rand(8, 784, generator=torch.Generator().manual_seed(9))
    D.train()
    first = D(x)
    assert torch.equal(first, D(x))
    D.eval()
    assert torch.equal(first, D(x))
    D.train()
