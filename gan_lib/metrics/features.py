"""Scores on a classifier's features or class probabilities: FID, Inception Score, class coverage, precision/recall.

These are the post-2014 ways of judging samples, computed in float64 on whatever device the inputs are on; they take
features or probabilities rather than a classifier, so any network (or none) can supply them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_lib.metrics.distances import sq_distances


def _feature_pair(a: Tensor, b: Tensor, names: tuple[str, str], min_rows: int, why: str) -> tuple[Tensor, Tensor]:
    """Both sets as float64 N x d matrices on a's device, or a ValueError naming the argument that is wrong."""
    for x, name in zip((a, b), names, strict=True):
        if x.dim() != 2:
            raise ValueError(f"{name} must be a 2-D (N, d) tensor, got shape {tuple(x.shape)}")
        if len(x) < min_rows:
            raise ValueError(f"{name} needs at least {min_rows} rows {why}, got {len(x)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {names[0]} has {a.shape[1]}, {names[1]} has {b.shape[1]}")
    return a.detach().to(torch.float64), b.detach().to(a.device, torch.float64)


def _probabilities(probs: Tensor) -> Tensor:
    """probs as a float64 N x C matrix, checked to hold class probabilities (non-negative rows summing to 1)."""
    if probs.dim() != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"probs must be a non-empty 2-D (N, C) tensor, got shape {tuple(probs.shape)}")
    p = probs.detach().to(torch.float64)
    sums = p.sum(1)
    if p.min() < 0 or not torch.allclose(sums, torch.ones_like(sums), rtol=0, atol=1e-3):
        lo, hi = sums.min().item(), sums.max().item()
        raise ValueError(
            "probs must hold class probabilities (non-negative rows summing to 1; softmax the logits first), "
            f"got values down to {p.min().item():.3g} and row sums in [{lo:.4g}, {hi:.4g}]"
        )
    return p


def _covariance(x: Tensor) -> Tensor:
    """The unbiased (N - 1) sample covariance of the rows of x, as numpy.cov and the reference FID code use."""
    centred = x - x.mean(0)
    return centred.T @ centred / (len(x) - 1)


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features, Heusel et al. 2017):
    ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), with symmetric eigendecompositions, no scipy."""
    a, b = _feature_pair(feats_a, feats_b, ("feats_a", "feats_b"), 2, "to estimate a covariance")
    cov_a, cov_b = _covariance(a), _covariance(b)
    evals, evecs = torch.linalg.eigh(cov_a)
    root_a = (evecs * evals.clamp(min=0).sqrt()) @ evecs.T
    inner = root_a @ cov_b @ root_a
    # tr(M^1/2) is the sum of the square roots of M's eigenvalues; M is symmetric PSD up to round-off.
    tr_cross = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    mean_term = (a.mean(0) - b.mean(0)).square().sum()
    return float(mean_term + cov_a.trace() + cov_b.trace() - 2 * tr_cross)


def inception_score(probs: Tensor, splits: int = 10) -> tuple[float, float]:
    """Mean and (population) std over `splits` consecutive chunks of exp(E_x KL(p(y|x) || p(y))), the protocol of
    Salimans et al. (2016): high when each sample is classified confidently and the classes are used evenly."""
    p = _probabilities(probs)
    n = len(p)
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be between 1 and the number of rows ({n}), got {splits}")
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        kl = torch.xlogy(part, part) - torch.xlogy(part, part.mean(0, keepdim=True))  # 0 log 0 = 0
        scores.append(kl.sum(1).mean().exp())
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(correction=0))


def class_coverage(probs: Tensor) -> tuple[Tensor, float]:
    """Fraction of samples assigned (argmax) to each of the C classes, and its KL from uniform in nats: 0 when every
    class is equally common, log C when one class takes everything (mode collapse onto a single digit)."""
    p = _probabilities(probs)
    n, c = p.shape
    hist = torch.bincount(p.argmax(1), minlength=c).to(torch.float64) / n
    return hist, float(torch.xlogy(hist, hist).sum() + math.log(c))


def _kth_neighbour_sq_radii(x: Tensor, k: int, batch: int) -> Tensor:
    """Squared distance from each row of x to its k-th nearest other row, in blocks of `batch` rows."""
    x_sq = (x * x).sum(1)
    radii = []
    for start in range(0, len(x), batch):
        d2 = sq_distances(x[start : start + batch], x, x_sq)
        rows = torch.arange(len(d2), device=x.device)
        d2[rows, rows + start] = math.inf  # a point is not its own neighbour
        radii.append(d2.kthvalue(k, dim=1).values)
    return torch.cat(radii)


def _fraction_inside(points: Tensor, centres: Tensor, sq_radii: Tensor, batch: int) -> float:
    """Fraction of `points` within the ball of at least one centre (centre i has squared radius sq_radii[i])."""
    c_sq = (centres * centres).sum(1)
    inside = sum(int((sq_distances(p, centres, c_sq) <= sq_radii).any(1).sum()) for p in points.split(batch))
    return inside / len(points)


@torch.no_grad()
def precision_recall(real_feats: Tensor, fake_feats: Tensor, k: int = 3, batch: int = 1000) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): the fraction of fakes inside the k-NN balls of the
    reals (fidelity), and of reals inside the k-NN balls of the fakes (diversity); memory O(batch x N)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    real, fake = _feature_pair(real_feats, fake_feats, ("real_feats", "fake_feats"), k + 1, f"for k = {k} neighbours")
    precision = _fraction_inside(fake, real, _kth_neighbour_sq_radii(real, k, batch), batch)
    recall = _fraction_inside(real, fake, _kth_neighbour_sq_radii(fake, k, batch), batch)
    return precision, recall
