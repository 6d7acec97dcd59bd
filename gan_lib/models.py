"""The paper's generator and discriminator (Pylearn2 ``mnist.yaml``), and their small toy-problem versions."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from gan_lib.config import Config


class _PieceMax(torch.autograd.Function):
    """max over dim 1 of an N x pieces x units tensor; every piece equal to the max gets the gradient (as Theano)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, z: Tensor) -> Tensor:
        out = z.amax(1)
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        z, out = ctx.saved_tensors
        # (z - max) == 0 as a float mask: ~4x faster on a CPU than the bool mask of z == max times grad
        return torch.sub(z, out.unsqueeze(1)).eq_(0).mul_(grad.unsqueeze(1))


class _InputGradFromRow(torch.autograd.Function):
    """Identity on h = linear(x.detach()) that also back-propagates into x, as linear(x) would, but multiplies by the
    weight only the rows of dL/dh from `first` on; rows before `first` get zero (they need no input gradient)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, h: Tensor, x: Tensor, weight: Tensor, first: int) -> Tensor:
        ctx.save_for_backward(weight)
        ctx.first, ctx.rows = first, len(x)
        return h.view_as(h)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        grad_x = grad.new_zeros(ctx.rows, weight.shape[1])
        grad_x[ctx.first :] = grad[ctx.first :].mm(weight)  # the rows of grad.mm(weight), as linear's backward
        return grad, grad_x, None, None


class Maxout(nn.Module):
    """Linear map to pieces*units features, then each unit's max over its `pieces` features.

    Row p * units + j of the weight is piece p of unit j (piece-major). Pylearn2 groups rows unit-major; with i.i.d.
    initial weights the two are the same model up to a relabelling of rows, and piece-major makes the max a
    contiguous, vectorised reduction (about 20x faster on a CPU than a max over groups of 5 adjacent features)."""

    def __init__(self, d_in: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x: Tensor, data_rows: int = 0) -> Tensor:
        """Each unit's max. The first `data_rows` rows of x get a zero input gradient, without their share of the
        matrix product."""
        if data_rows and x.requires_grad:
            h = _InputGradFromRow.apply(self.linear(x.detach()), x, self.linear.weight.detach(), data_rows)
        else:
            h = self.linear(x)
        return _PieceMax.apply(h.view(-1, self.pieces, self.units))


class Generator(nn.Module):
    """x = G(z): ReLU hidden layers, then sigmoid (images in [0, 1]) or identity (toys)."""

    def __init__(self, noise_dim: int, hidden: list[int], d_out: int, sigmoid: bool) -> None:
        super().__init__()
        sizes = [noise_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(sizes[-1], d_out)
        self.sigmoid = sigmoid

    def forward(self, z: Tensor) -> Tensor:
        x = self.out(self.hidden(z))
        return torch.sigmoid(x) if self.sigmoid else x


class Discriminator(nn.Module):
    """D's logit; dropout on each layer's input with per-layer keep probabilities, as ``dropout_fprop``."""

    def __init__(self, d_in: int, hidden: list[int], arch: str, pieces: int, keep: list[float]) -> None:
        super().__init__()
        sizes = [d_in, *hidden]
        if arch == "maxout":
            body = [Maxout(a, b, pieces) for a, b in itertools.pairwise(sizes)]
        else:
            body = [nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in itertools.pairwise(sizes)]
        self.layers = nn.ModuleList([*body, nn.Linear(sizes[-1], 1)])
        self.keep = keep
        self.widths = sizes

    def dropout_masks(self, n: int, generator: torch.Generator | None = None) -> list[Tensor]:
        """One pre-scaled mask (0 or 1/keep) per layer input, for n rows; drawn from `generator`.

        An entry is kept when 16 random bits fall below keep * 2^16 (keep rounded to 1/65536): one 64-bit draw feeds
        four entries, about 3x faster on a CPU than comparing torch.rand floats."""
        device = self.layers[-1].weight.device
        sizes = [n * width for width in self.widths]
        words = torch.empty((sum(sizes) + 3) // 4, dtype=torch.int64, device=device)
        bits = words.random_(-(2**63), None, generator=generator).view(torch.int16)[: sum(sizes)]
        masks = []
        for chunk, width, keep in zip(bits.split(sizes), self.widths, self.keep):
            mask = torch.empty(n, width, device=device)
            if keep < 1:
                torch.lt(chunk.view(n, width), round(keep * 2**16) - 2**15, out=mask)
            else:  # keep = 1: the threshold 2^15 does not fit in int16 (it would wrap to -2^15 and drop everything)
                mask.fill_(1)
            masks.append(mask.div_(keep))
        return masks

    def forward(self, x: Tensor, masks: list[Tensor] | None = None, data_rows: int = 0) -> Tensor:
        """D's logit of each row of x. The first `data_rows` rows are training data, whose gradient nobody needs: a
        maxout first layer then skips their share of its input gradient, a fifth of the work of D's backward pass."""
        for i, layer in enumerate(self.layers):
            if masks is not None:
                x = x * masks[i]
            x = layer(x, data_rows) if i == 0 and isinstance(layer, Maxout) else layer(x)
        return x.squeeze(-1)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG for the block, then restore it: weights built inside depend on `seed` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_generator(cfg: Config, d_out: int, out_bias: Tensor | None = None) -> Generator:
    """The generator of `cfg`: weights uniform in +-g_init_range, biases 0, output bias as given."""
    G = Generator(cfg.noise_dim, cfg.g_hidden, d_out, sigmoid=cfg.dataset == "mnist")
    _init_uniform(G, cfg.g_init_range)
    if out_bias is not None:
        with torch.no_grad():
            G.out.bias.copy_(out_bias)
    return G


def build_discriminator(cfg: Config, d_in: int) -> Discriminator:
    """The discriminator of `cfg`: weights uniform in +-d_init_range, biases 0."""
    keep = [cfg.d_keep_input] + [cfg.d_keep_hidden] * len(cfg.d_hidden)
    D = Discriminator(d_in, cfg.d_hidden, cfg.d_arch, cfg.d_pieces, keep)
    _init_uniform(D, cfg.d_init_range)
    return D


def sigmoid_bias_from_marginals(x: Tensor, eps: float = 1e-7) -> Tensor:
    """logit of each pixel's training-set mean (clipped to [eps, 1 - eps]): G's initial output bias."""
    p = x.double().mean(0).clamp(eps, 1 - eps)
    return torch.log(p / (1 - p)).float()


def _init_uniform(module: nn.Module, irange: float) -> None:
    """Pylearn2's ``irange``: weights uniform in [-irange, irange], biases zero (drawn from torch's global RNG)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------- p_z and sampling


def sample_noise(
    cfg: Config, n: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
) -> Tensor:
    """n draws of z ~ p_z: uniform on [-sqrt 3, sqrt 3] (unit variance) or standard normal."""
    if cfg.noise == "normal":
        return torch.randn(n, cfg.noise_dim, generator=generator, device=device)
    u = torch.rand(n, cfg.noise_dim, generator=generator, device=device)
    return u.mul_(2 * math.sqrt(3)).sub_(math.sqrt(3))


def interpolation_noise(cfg: Config, pairs: int, steps: int, seed: int) -> Tensor:
    """pairs x steps noise vectors: each row walks linearly from one z ~ p_z to another (Figure 3)."""
    gen = torch.Generator().manual_seed(seed)
    ends = sample_noise(cfg, 2 * pairs, gen).view(pairs, 2, 1, cfg.noise_dim)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    return ((1 - t) * ends[:, 0] + t * ends[:, 1]).reshape(pairs * steps, cfg.noise_dim)


@torch.no_grad()
def generate(G: Generator, cfg: Config, n: int, seed: int, batch: int = 2000) -> Tensor:
    """n samples of G on its device, without gradients, reproducible from the seed (G has no dropout or eval mode)."""
    device = next(G.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    z = sample_noise(cfg, n, gen, device)
    return torch.cat([G(chunk) for chunk in z.split(batch)])
