"""A 1-D GAN as curves on a grid, for the theory chapters: D(x), the map z -> G(z), and a kernel estimate of p_g."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def discriminator_curve(D: nn.Module, xs: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logit) at the points xs, in float64: in float32 it rounds to exactly 1 in the tails, where
    log(1 - D) would then be -inf."""
    logits = D(torch.as_tensor(xs, dtype=torch.float32).reshape(-1, 1))
    return torch.sigmoid(logits.double()).numpy().ravel()


@torch.no_grad()
def generator_curve(G: nn.Module, zs: np.ndarray) -> np.ndarray:
    """G(z) at the noise values zs, for a generator with one-dimensional noise and output."""
    return G(torch.as_tensor(zs, dtype=torch.float32).reshape(-1, 1)).double().numpy().ravel()


def kde(samples: np.ndarray, xs: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density estimate at the points xs from 1-D samples (a smooth stand-in for p_g)."""
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    u = (np.asarray(xs, dtype=float)[:, None] - np.asarray(samples, dtype=float).ravel()[None, :]) / bandwidth
    return np.exp(-0.5 * u**2).mean(1) / (bandwidth * math.sqrt(2 * math.pi))
