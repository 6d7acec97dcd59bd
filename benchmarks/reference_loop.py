"""The straightforward PyTorch loop of the faithful MNIST recipe, the baseline gan_lib's trainer is measured against.

Written the way a tutorial would: nn.Sequential models with nn.Dropout and a final Sigmoid, nn.BCELoss on
probabilities, a shuffling DataLoader, torch.optim.SGD with a per-batch LambdaLR decay and a per-epoch momentum
ramp, and the simultaneous update done as two backward passes (G's loss through a second D forward).
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Maxout(nn.Module):
    def __init__(self, d_in: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.units, self.pieces).max(-1).values


def build(train_x: torch.Tensor, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    G = nn.Sequential(
        nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, 784), nn.Sigmoid()
    )
    D = nn.Sequential(
        nn.Dropout(0.2),
        Maxout(784, 240, 5),
        nn.Dropout(0.5),
        Maxout(240, 240, 5),
        nn.Dropout(0.5),
        nn.Linear(240, 1),
        nn.Sigmoid(),
    )
    for net, irange in ((G, 0.05), (D, 0.005)):
        for m in net.modules():
            if isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -irange, irange)
                nn.init.zeros_(m.bias)
    p = train_x.mean(0).clamp(1e-7, 1 - 1e-7)
    with torch.no_grad():
        G[4].bias.copy_(torch.log(p / (1 - p)))
    return G, D


def train(train_x: torch.Tensor, epochs: float = 1, seed: int = 0, device: str = "cpu") -> float:
    """Train for `epochs` (fractions allowed) and return iterations per second (after one warm-up batch)."""
    torch.set_flush_denormal(False)  # PyTorch's default (importing gan_lib, for the data, turned it on)
    G, D = (m.to(device) for m in build(train_x, seed))
    loader = DataLoader(
        TensorDataset(train_x), batch_size=100, shuffle=True, drop_last=True, pin_memory=device == "cuda"
    )
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5)
    decay = [torch.optim.lr_scheduler.LambdaLR(o, lambda s: max(1.000004**-s, 1e-5)) for o in (opt_g, opt_d)]
    bce = nn.BCELoss()
    ones, zeros = torch.ones(100, 1, device=device), torch.zeros(100, 1, device=device)
    total = int(epochs * len(loader))
    done, start = 0, None
    for epoch in range(math.ceil(epochs)):
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["momentum"] = 0.5 + 0.2 * min(max((epoch - 1) / 249, 0.0), 1.0)
        for (x,) in loader:
            x = x.to(device, non_blocking=True)
            z = (torch.rand(100, 100, device=device) * 2 - 1) * math.sqrt(3)
            fake = G(z)
            d_loss = 0.5 * (bce(D(x), ones) + bce(D(fake.detach()), zeros))
            g_loss = bce(D(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            opt_g.step()
            for s in decay:
                s.step()
            done += 1
            if done == 1:
                _sync(device)
                start = time.perf_counter()
            if done >= total:
                break
        if done >= total:
            break
    _sync(device)
    return (done - 1) / (time.perf_counter() - start)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
