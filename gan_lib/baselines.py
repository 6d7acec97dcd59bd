"""Model-free "generators" for the evaluation chapter: k-means centroids and replayed training images.

Theis, van den Oord & Bethge (2016) use such baselines to show how little a sample score can mean: k-means centroids
beat every model, and even real data, on MNIST's Parzen log-likelihood, and replayed training images look perfect.
"""

from __future__ import annotations

import torch
from torch import Tensor
from tqdm import tqdm


@torch.no_grad()
def kmeans(x: Tensor, k: int, iters: int, seed: int, batch: int = 5000, progress: bool = False) -> Tensor:
    """k x d float32 centroids after `iters` rounds of Lloyd's algorithm from k distinct rows of x chosen by `seed`;
    an empty cluster keeps its centroid. Assignments in blocks of `batch` rows, so memory stays O(batch x k)."""
    if x.dim() != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty 2-D (N, d) tensor, got shape {tuple(x.shape)}")
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of rows ({len(x)}), got {k}")
    if iters < 0:
        raise ValueError(f"iters must be non-negative, got {iters}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    data = x.detach().float()
    init = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:k]
    centroids = data[init.to(data.device)].double()
    for _ in tqdm(range(iters), disable=not progress, desc="k-means", unit="iter"):
        c = centroids.float()
        c_sq = (c * c).sum(1)
        sums = torch.zeros_like(centroids)
        counts = torch.zeros(k, dtype=torch.int64, device=data.device)
        for block in data.split(batch):
            # argmin_j |x|^2 + |c_j|^2 - 2 x.c_j: |x|^2 is the same for every centroid, so it is left out
            nearest = torch.addmm(c_sq, block, c.T, alpha=-2.0).argmin(1)
            sums.index_add_(0, nearest, block.double())
            counts += torch.bincount(nearest, minlength=k)
        updated = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centroids)
        if torch.equal(updated, centroids):  # converged: every later round would repeat this one
            break
        centroids = updated
    return centroids.float()


def replay(train: Tensor, n: int, seed: int) -> Tensor:
    """n training rows drawn uniformly with replacement, reproducibly from `seed`: a perfect memoriser, whose samples
    are real images, so that only a comparison with the training set (Figure 2's nearest neighbours) gives it away."""
    if len(train) == 0:
        raise ValueError("train must hold at least one row to replay")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    idx = torch.randint(len(train), (n,), generator=torch.Generator().manual_seed(seed))
    return train[idx.to(train.device)]
