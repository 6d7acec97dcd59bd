"""1-D toy distributions with exact densities, for the theory chapters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Mixture:
    """A 1-D mixture of Gaussians; knows its exact density so D* and C(G) can be computed."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.means) == len(self.stds) > 0):
            raise ValueError("weights, means and stds must be non-empty and of equal length")
        if any(s <= 0 for s in self.stds) or any(w < 0 for w in self.weights):
            raise ValueError("stds must be > 0 and weights >= 0")
        if not math.isclose(sum(self.weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, got {sum(self.weights)}")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Exact density at the points x."""
        x = np.asarray(x, dtype=np.float64)[..., None]
        w, m, s = (np.asarray(a, dtype=np.float64) for a in (self.weights, self.means, self.stds))
        return (w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))).sum(-1)

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """n float32 samples as an n x 1 tensor, reproducible from the seed."""
        g = torch.Generator().manual_seed(seed)
        comp = torch.multinomial(torch.tensor(self.weights, dtype=torch.float64), n, True, generator=g)
        eps = torch.randn(n, generator=g, dtype=torch.float64)
        x = (
            torch.tensor(self.means, dtype=torch.float64)[comp]
            + torch.tensor(self.stds, dtype=torch.float64)[comp] * eps
        )
        return x.float().unsqueeze(1)

    @property
    def mean(self) -> float:
        return float(np.dot(self.weights, self.means))


def Gaussian(mean: float, std: float) -> Mixture:
    """A single Gaussian N(mean, std^2) as a one-component mixture."""
    return Mixture((1.0,), (float(mean),), (float(std),))
