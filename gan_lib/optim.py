"""The original code's optimiser and schedules: Pylearn2 momentum SGD, per-minibatch lr decay, momentum ramp."""

from __future__ import annotations

from typing import Any

import torch

from gan_lib.config import Config


def learning_rate(cfg: Config, step: int) -> float:
    """Pylearn2 ExponentialDecay: lr / decay^step after `step` minibatches, never below lr_min."""
    return max(cfg.lr / cfg.lr_decay**step, cfg.lr_min)


def momentum(cfg: Config, epoch: int) -> float:
    """Pylearn2 MomentumAdjustor: linear from `momentum` to `momentum_final` between the start and saturate epochs."""
    width = cfg.momentum_saturate - cfg.momentum_start
    alpha = float(epoch >= cfg.momentum_start) if width == 0 else (epoch - cfg.momentum_start) / width
    alpha = min(max(alpha, 0.0), 1.0)
    return cfg.momentum * (1 - alpha) + cfg.momentum_final * alpha


class MomentumSGD(torch.optim.Optimizer):
    """Pylearn2's rule inc = mu * inc - lr * grad; param += inc (lr inside the velocity, unlike torch.optim.SGD)."""

    def __init__(self, params: Any, lr: float, momentum: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if "inc" not in self.state[p]:
                    self.state[p]["inc"] = torch.zeros_like(p)
            incs = [self.state[p]["inc"] for p in params]
            torch._foreach_mul_(incs, group["momentum"])
            torch._foreach_add_(incs, [p.grad for p in params], alpha=-group["lr"])
            torch._foreach_add_(params, incs)


def make_optimizer(cfg: Config, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.adam_betas))
    return MomentumSGD(params, lr=cfg.lr, momentum=cfg.momentum)
