"""The plain PyTorch loop of the faithful MNIST recipe: the baseline that `bench.py` times gan_lib's trainer against.

What a competent engineer writes for the recipe, and nothing cleverer: nn.Sequential models with nn.Dropout and
maxout as a view and a max, minibatches indexed from one tensor by a fresh permutation each epoch,
F.binary_cross_entropy_with_logits on D's logits, the simultaneous update as two torch.autograd.grad calls (D's loss
w.r.t. D, G's loss w.r.t. G, through the same D outputs, hence the same samples and dropout masks), and
torch.optim.SGD with the learning rate decayed every minibatch and the momentum ramped every epoch.

torch.optim.SGD keeps buf = mu * buf + grad and steps by lr * buf, so after a learning-rate change it is Pylearn2's
inc = mu * inc - lr * grad with momentum mu * lr / lr_previous, here mu / 1.000004: the same recipe to five digits.

This file never imports gan_lib (whose import flushes subnormal floats to zero), so the loop runs with PyTorch's
default float settings on every thread:

    python benchmarks/reference_loop.py                         # one epoch from a fresh initialisation
    python benchmarks/reference_loop.py --state CKPT --steps 300 --warmup 30   # it/s from a gan_lib checkpoint
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

BATCH = 100


class Maxout(nn.Module):
    """Linear map to units * pieces features, grouped unit-major as in Pylearn2; each unit's max over its pieces."""

    def __init__(self, d_in: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(-1, self.units, self.pieces).max(-1).values


def load_train_images(folder: str | os.PathLike[str] | None = None) -> Tensor:
    """MNIST train[0:50000] as 50000 x 784 float32 in [0, 1], from the original IDX file ($GAN_LIB_MNIST_DIR)."""
    folder = Path(folder or os.environ.get("GAN_LIB_MNIST_DIR") or Path.home() / ".cache" / "gan_lib" / "mnist")
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:50000]
    return torch.from_numpy(pixels.astype(np.float32) / 255)


def build_models(train_x: Tensor, seed: int = 0) -> tuple[nn.Sequential, nn.Sequential]:
    """G and D of the recipe: weights uniform in +-0.05 (G) and +-0.005 (D), biases 0, G's output bias the logit of
    the pixel means."""
    torch.manual_seed(seed)
    G = nn.Sequential(
        nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, 784), nn.Sigmoid()
    )
    D = nn.Sequential(
        nn.Dropout(0.2), Maxout(784, 240, 5), nn.Dropout(0.5), Maxout(240, 240, 5), nn.Dropout(0.5), nn.Linear(240, 1)
    )
    for net, irange in ((G, 0.05), (D, 0.005)):
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -irange, irange)
                nn.init.zeros_(m.bias)
    p = train_x.double().mean(0).clamp(1e-7, 1 - 1e-7)
    with torch.no_grad():
        G[4].bias.copy_(torch.log(p / (1 - p)))
    return G, D


def learning_rate(step: int) -> float:
    """0.1 divided by 1.000004 after every minibatch, never below 1e-6."""
    return max(0.1 / 1.000004**step, 1e-6)


def momentum(epoch: int) -> float:
    """Momentum of the epoch-th epoch (counted from 1): 0.5 rising linearly to 0.7 at epoch 250."""
    return 0.5 + 0.2 * min(max((epoch - 1) / 249, 0.0), 1.0)


def load_gan_lib_state(
    path: str | Path, G: nn.Module, D: nn.Module, opt_g: torch.optim.SGD, opt_d: torch.optim.SGD
) -> tuple[int, int]:
    """Weights and momentum buffers of a gan_lib checkpoint, put into these models and optimisers; returns (epoch,
    step). gan_lib orders each maxout layer's rows piece-major, so they are permuted to this file's unit-major order
    (the same function); gan_lib's momentum buffer (Pylearn2's -inc / lr) is torch.optim.SGD's momentum_buffer."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for net, opt, key in ((G, opt_g, "G"), (D, opt_d, "D")):
        params, bufs = list(net.parameters()), state[f"opt_{key.lower()}"]["state"]
        stored = list(state[key].values())
        if [t.shape for t in stored] != [p.shape for p in params]:
            raise ValueError(f"{path}: {key}'s tensors do not fit the recipe's models (is it a faithful MNIST run?)")
        for i, (p, value) in enumerate(zip(params, stored, strict=True)):
            maxout_rows = p.shape[0] == 1200 and key == "D"
            with torch.no_grad():
                p.copy_(_unit_major(value) if maxout_rows else value)
            if i in bufs:
                buf = bufs[i]["buf"]
                opt.state[p]["momentum_buffer"] = (_unit_major(buf) if maxout_rows else buf).clone().to(p.device)
    return state["epoch"], state["step"]


def _unit_major(t: Tensor, units: int = 240, pieces: int = 5) -> Tensor:
    """Rows ordered piece-major (row p * units + j) reordered unit-major (row j * pieces + p)."""
    return t.reshape(pieces, units, *t.shape[1:]).transpose(0, 1).reshape(t.shape)


def train(
    data: Tensor,
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.SGD,
    opt_d: torch.optim.SGD,
    steps: int,
    epochs_done: int = 0,
    step: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """`steps` simultaneous updates after `epochs_done` epochs and `step` minibatches; returns the last two losses.
    `on_step(n)` is called after the n-th update."""
    done = 0
    for epoch in itertools.count(epochs_done + 1):
        perm = torch.randperm(len(data), device=data.device)
        for i in range(len(data) // BATCH):
            x = data[perm[i * BATCH : (i + 1) * BATCH]]
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"], group["momentum"] = learning_rate(step), momentum(epoch)
            z = (torch.rand(BATCH, 100, device=data.device) * 2 - 1) * math.sqrt(3)
            fake = G(z)
            logits_real, logits_fake = D(x), D(fake)
            d_loss = 0.5 * (
                F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
                + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
            )
            g_loss = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
            d_grads = torch.autograd.grad(d_loss, list(D.parameters()), retain_graph=True)
            g_grads = torch.autograd.grad(g_loss, list(G.parameters()))
            for net, grads in ((D, d_grads), (G, g_grads)):
                for p, g in zip(net.parameters(), grads):
                    p.grad = g
            opt_d.step()
            opt_g.step()
            step += 1
            done += 1
            if on_step is not None:
                on_step(done)
            if done == steps:
                return d_loss.item(), g_loss.item()
    raise AssertionError("unreachable")


def subnormal_fraction(tensors: list[Tensor]) -> float:
    """Share of the entries that are subnormal floats (nonzero, below float32's smallest normal number)."""
    tiny = torch.finfo(torch.float32).tiny
    count = sum(int(((t != 0) & (t.abs() < tiny)).sum()) for t in tensors)
    return count / sum(t.numel() for t in tensors)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, help="gan_lib checkpoint to start from (default: a fresh initialisation)")
    p.add_argument("--steps", type=int, help="minibatches to run (default: one epoch, 500); with --warmup, timed")
    p.add_argument("--warmup", type=int, default=0, help="untimed minibatches before the --steps timed ones")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-rows", type=int, help="train on the first N training images only")
    args = p.parse_args()
    data = load_train_images()[: args.data_rows].to(args.device)
    G, D = (m.to(args.device) for m in build_models(data))
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5)
    epoch, step = load_gan_lib_state(args.state, G, D, opt_g, opt_d) if args.state else (0, 0)
    steps = args.steps or len(data) // BATCH
    times: list[float] = []

    def clock(i: int) -> None:
        if i in (args.warmup, args.warmup + steps):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    G.train()
    D.train()
    if args.warmup == 0:
        clock(0)
    d_loss, g_loss = train(data, G, D, opt_g, opt_d, args.warmup + steps, epoch, step, clock)
    grads_and_buffers = [
        t for o in (opt_g, opt_d) for q, st in o.state.items() for t in (q.grad, st["momentum_buffer"])
    ]
    result = {"its": steps / (times[1] - times[0]), "d_loss": d_loss, "g_loss": g_loss}
    print(json.dumps({**result, "subnormal_fraction": subnormal_fraction(grads_and_buffers)}))


if __name__ == "__main__":
    main()
