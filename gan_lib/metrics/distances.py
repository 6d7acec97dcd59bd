"""Squared Euclidean distances between rows, in blocks, and Figure 2's nearest training neighbours."""

from __future__ import annotations

import torch
from torch import Tensor


def sq_distances(x: Tensor, mu: Tensor, mu_sq: Tensor) -> Tensor:
    """||x_i - mu_j||^2 for a block of x, as |x|^2 + |mu|^2 - 2 x.mu (mu_sq = |mu_j|^2; clamped at 0 against
    round-off)."""
    return ((x * x).sum(1, keepdim=True) + mu_sq - 2.0 * x @ mu.T).clamp_(min=0.0)


@torch.no_grad()
def nearest_neighbours(queries: Tensor, reference: Tensor, batch: int = 1000) -> Tensor:
    """Index into `reference` of each query's nearest neighbour in L2 (Figure 2's check against memorisation)."""
    ref = reference.float()
    ref_sq = (ref * ref).sum(1)
    return torch.cat([sq_distances(q.float(), ref, ref_sq).argmin(1) for q in queries.split(batch)])
