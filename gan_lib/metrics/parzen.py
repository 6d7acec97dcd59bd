"""The Parzen-window log-likelihood of Table 1, with the protocol of the original ``parzen_ll.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gan_lib.metrics.distances import sq_distances

#: The sigma grid of ``parzen_ll.py``: numpy.logspace(-1, 0, 10), i.e. 0.1 ... 1.0.
SIGMAS: tuple[float, ...] = tuple(float(s) for s in np.logspace(-1, 0, 10))


@dataclass(frozen=True)
class ParzenResult:
    """Mean test log-likelihood, its standard error, the chosen sigma, the validation score of every sigma, and the
    mean log-likelihood on the validation images not used for sigma (None if there are none): the score for choosing
    among checkpoints without looking at the test set."""

    mean: float
    std_err: float
    sigma: float
    valid_scores: dict[float, float]
    holdout: float | None = None

    def to_dict(self) -> dict[str, float]:
        scores = {"parzen_mean": self.mean, "parzen_se": self.std_err, "sigma": self.sigma}
        return scores if self.holdout is None else scores | {"parzen_valid": self.holdout}


@torch.no_grad()
def parzen_log_likelihood(samples: Tensor, x: Tensor, sigmas: float | tuple[float, ...], batch: int = 500) -> Tensor:
    """log p(x) under a Gaussian kernel of width sigma on each sample: one row per sigma, one column per x.

    log p(x) = logmeanexp_j(-||x - mu_j||^2 / (2 sigma^2)) - (d / 2) log(2 pi sigma^2); computed in blocks of x
    so that memory stays at batch x len(samples), on whatever device the tensors are on.
    """
    sigmas = (float(sigmas),) if isinstance(sigmas, (int, float)) else tuple(sigmas)
    mu = samples.float()
    mu_sq = (mu * mu).sum(1)
    n, d = mu.shape
    out = torch.empty(len(sigmas), len(x), dtype=torch.float64, device=mu.device)
    for start in range(0, len(x), batch):
        d2 = sq_distances(x[start : start + batch].float().to(mu.device), mu, mu_sq)
        for i, s in enumerate(sigmas):
            lse = torch.logsumexp(d2 * (-0.5 / s**2), dim=1).double()
            out[i, start : start + batch] = lse - math.log(n) - 0.5 * d * math.log(2 * math.pi * s**2)
    return out


def parzen_evaluate(
    samples: Tensor, valid: Tensor, test: Tensor, sigmas: tuple[float, ...] = SIGMAS, n_valid: int = 1000
) -> ParzenResult:
    """The paper's protocol: sigma with the best mean log-likelihood on valid[:n_valid]; then mean and
    standard error (population std / sqrt n) over the whole test set; and the mean over valid[n_valid:] at that sigma."""
    valid_ll = parzen_log_likelihood(samples, valid[:n_valid], sigmas).mean(1)
    best = int(valid_ll.argmax())
    ll = parzen_log_likelihood(samples, test, sigmas[best])[0]
    holdout = valid[n_valid:]
    return ParzenResult(
        mean=float(ll.mean()),
        std_err=float(ll.std(unbiased=False) / math.sqrt(len(ll))),
        sigma=sigmas[best],
        valid_scores={s: float(v) for s, v in zip(sigmas, valid_ll)},
        holdout=float(parzen_log_likelihood(samples, holdout, sigmas[best]).mean()) if len(holdout) else None,
    )
