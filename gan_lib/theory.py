"""Exact quantities of the paper's theory on densities over a grid or bins: V, D*, C(G), KL, JSD, and Proposition 2's
idealised algorithm (D = D*_G at every step, then a small step on p_g itself)."""

from __future__ import annotations

import numpy as np


def _share(p: np.ndarray, total: np.ndarray) -> np.ndarray:
    """p / total (1/2 where total is 0): gives 1 - D* = p_g / (p_data + p_g) directly; 1 - D* rounds to 0 in tails."""
    return np.divide(p, total, out=np.full_like(total, 0.5, dtype=float), where=total > 0)


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """Proposition 1: D*_G(x) = p_data(x) / (p_data(x) + p_g(x)) (1/2 where both densities vanish)."""
    return _share(p_data, p_data + p_g)


def kl(p: np.ndarray, q: np.ndarray, dx: float = 1.0) -> float:
    """KL(p || q) = sum p log(p / q) dx, with 0 log 0 = 0; dx = 1 for discrete distributions."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])) * dx)


def jsd(p: np.ndarray, q: np.ndarray, dx: float = 1.0) -> float:
    """Jensen-Shannon divergence: (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2."""
    m = 0.5 * (p + q)
    return 0.5 * (kl(p, m, dx) + kl(q, m, dx))


def value(p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray, dx: float = 1.0) -> float:
    """V(G, D) of Eq. 1 written on densities, E_data[log D] + E_g[log(1 - D)]: linear in p_g for a fixed D."""
    a, b = p_data > 0, p_g > 0
    return float((np.sum(p_data[a] * np.log(d[a])) + np.sum(p_g[b] * np.log1p(-d[b]))) * dx)


def virtual_criterion(p_data: np.ndarray, p_g: np.ndarray, dx: float = 1.0) -> float:
    """C(G) = max_D V(G, D) = E_data[log D*] + E_g[log(1 - D*)] (Eq. 4), by quadrature."""
    total, a, b = p_data + p_g, p_data > 0, p_g > 0
    log_d, log_1md = np.log(_share(p_data, total)[a]), np.log(_share(p_g, total)[b])
    return float((np.sum(p_data[a] * log_d) + np.sum(p_g[b] * log_1md)) * dx)


def bernoulli_kl(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Elementwise KL(Bern(p) || Bern(r)), 0 log 0 = 0; C(G) - V(G, D) = sum (p_data + p_g) KL(Bern(D*) || Bern(D))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(p / r), 0.0) + np.where(p < 1, (1 - p) * np.log((1 - p) / (1 - r)), 0.0)


def criterion_gradient(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """dC/dp_g(x) = log(1 - D*_G(x)): V's gradient in p_g at D = D*_G (Danskin), a subgradient of the convex C."""
    with np.errstate(divide="ignore"):
        return np.log(_share(p_g, p_data + p_g))


def mirror_descent_step(p_data: np.ndarray, p_g: np.ndarray, lr: float) -> np.ndarray:
    """One exponentiated-gradient (mirror-descent) step on C over the simplex: p_g * exp(-lr dC/dp_g), renormalised.

    On the support of p_g this is p_g^(1-lr) (p_data + p_g)^lr; bins where p_g = 0 stay 0 for every lr, since the step
    multiplies p_g (so lr = 1 gives (p_data + p_g) / 2 restricted to p_g's support). lr <= 1 because C is 1-smooth
    relative to the entropy, the condition under which these steps decrease C."""
    if not 0 < lr <= 1:
        raise ValueError(f"lr must be in (0, 1], got {lr}")
    support = p_g > 0
    if not support.any():
        raise ValueError("p_g has no mass: a mirror-descent step needs p_g > 0 in at least one bin")
    new = np.zeros_like(p_g, dtype=float)
    new[support] = p_g[support] ** (1 - lr) * (p_data[support] + p_g[support]) ** lr
    return new / new.sum()


def idealised_training(p_data: np.ndarray, p_g: np.ndarray, lr: float, steps: int) -> list[np.ndarray]:
    """Proposition 2's algorithm on bins: D = D*_G exactly, then a mirror-descent step on p_g; p_g at steps 0..steps."""
    path = [p_g / p_g.sum()]
    for _ in range(steps):
        path.append(mirror_descent_step(p_data, path[-1], lr))
    return path


def bin_probabilities(samples: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Histogram estimate of a 1-D distribution as bin probabilities (samples outside the edges are ignored)."""
    counts = np.histogram(samples, edges)[0].astype(float)
    return counts / counts.sum()
