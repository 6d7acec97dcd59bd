"""2-D Gaussian mixtures whose modes can be counted: the benchmarks of the mode-collapse literature.

`ring` is Metz et al. (2017)'s eight Gaussians on a circle of radius 2 (std 0.02); `grid` is the 5 x 5 grid of
Srivastava et al. (2017) and Lin et al. (2018), modes at {-4, -2, 0, 2, 4}^2 (std 0.05). Every mode has equal weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Mixture2D:
    """Equal-weight isotropic 2-D Gaussians: `means` is K x 2, every component with standard deviation `std`."""

    name: str
    means: tuple[tuple[float, float], ...]
    std: float

    def means_array(self) -> np.ndarray:
        return np.asarray(self.means, dtype=np.float64)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Exact density at the points x (... x 2)."""
        d2 = ((np.asarray(x, dtype=np.float64)[..., None, :] - self.means_array()) ** 2).sum(-1)
        return np.exp(-0.5 * d2 / self.std**2).mean(-1) / (2 * math.pi * self.std**2)

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """n float32 samples as an n x 2 tensor, reproducible from the seed."""
        g = torch.Generator().manual_seed(seed)
        mode = torch.randint(len(self.means), (n,), generator=g)
        eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
        return (torch.tensor(self.means, dtype=torch.float64)[mode] + self.std * eps).float()


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture2D:
    """Metz et al. (2017): `modes` Gaussians evenly spaced on a circle of `radius`, the first at angle 0."""
    angles = [2 * math.pi * i / modes for i in range(modes)]
    return Mixture2D("ring", tuple((radius * math.cos(a), radius * math.sin(a)) for a in angles), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture2D:
    """Srivastava et al. (2017), Lin et al. (2018): side x side Gaussians, at spacing * (i - (side - 1) / 2) on each
    axis for i = 0, ..., side - 1."""
    ticks = [spacing * (i - (side - 1) / 2) for i in range(side)]
    return Mixture2D("grid", tuple((x, y) for x in ticks for y in ticks), std)


#: The 2-D benchmarks by the name the config's `dataset` key gives them.
BENCHMARKS = {"ring": ring, "grid": grid}
