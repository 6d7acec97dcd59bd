"""Exact quantities of the paper's theory for 1-D densities on a grid: D*, C(G), KL and JSD by quadrature."""

from __future__ import annotations

import numpy as np


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """Proposition 1: D*_G(x) = p_data(x) / (p_data(x) + p_g(x)) (1/2 where both densities vanish)."""
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5, dtype=float), where=total > 0)


def kl(p: np.ndarray, q: np.ndarray, dx: float = 1.0) -> float:
    """KL(p || q) = sum p log(p / q) dx, with 0 log 0 = 0; dx = 1 for discrete distributions."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])) * dx)


def jsd(p: np.ndarray, q: np.ndarray, dx: float = 1.0) -> float:
    """Jensen-Shannon divergence: (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2."""
    m = 0.5 * (p + q)
    return 0.5 * (kl(p, m, dx) + kl(q, m, dx))


def virtual_criterion(p_data: np.ndarray, p_g: np.ndarray, dx: float = 1.0) -> float:
    """C(G) = max_D V(G, D) = E_data[log D*] + E_g[log(1 - D*)] (Eq. 4), by quadrature."""
    d = optimal_discriminator(p_data, p_g)
    a, b = p_data > 0, p_g > 0
    return float((np.sum(p_data[a] * np.log(d[a])) + np.sum(p_g[b] * np.log1p(-d[b]))) * dx)
