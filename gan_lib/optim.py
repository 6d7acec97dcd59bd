"""The original code's optimiser and schedules: Pylearn2 momentum SGD, per-minibatch lr decay, momentum ramp."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.optim.sgd import sgd

if TYPE_CHECKING:
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


def set_hyperparameters(opt: torch.optim.Optimizer, lr: float, momentum: float | None = None) -> None:
    """Set the learning rate of every parameter group of `opt`, and the momentum (if given) where a group has one."""
    for group in opt.param_groups:
        group["lr"] = lr
        if momentum is not None and "momentum" in group:
            group["momentum"] = momentum


class MomentumSGD(torch.optim.Optimizer):
    """Pylearn2's rule inc = mu * inc - lr * grad; param += inc (lr inside the velocity, unlike torch.optim.SGD).

    Run by torch's fused SGD kernel (one pass over memory), which keeps buf = -inc / lr: after lr changes from lr' to
    lr, Pylearn2's update is exactly torch's buf = (mu * lr' / lr) * buf + grad; param -= lr * buf."""

    def __init__(self, params: Any, lr: float, momentum: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            bufs = [self.state[p].get("buf") for p in params]
            lr = group["lr"]
            torch_momentum = group["momentum"] * group.get("last_lr", lr) / lr
            kwargs = {"weight_decay": 0.0, "dampening": 0.0, "nesterov": False, "maximize": False}
            sgd(params, [p.grad for p in params], bufs, fused=True, momentum=torch_momentum, lr=lr, **kwargs)
            for p, buf in zip(params, bufs):  # without momentum torch keeps no buffer; Pylearn2's inc is -lr * grad
                self.state[p]["buf"] = buf if torch_momentum else p.grad.clone()
            group["last_lr"] = lr


def make_optimizer(cfg: Config, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.adam_betas))
    return MomentumSGD(params, lr=cfg.lr, momentum=cfg.momentum)
