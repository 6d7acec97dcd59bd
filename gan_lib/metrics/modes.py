"""Mode counts on a 2-D mixture (Metz et al. 2017, Srivastava et al. 2017, Lin et al. 2018): which modes a generator's
samples reach, how many samples are of high quality, and how evenly the good ones spread over the modes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from gan_lib.data.mixture2d import Mixture2D

#: A sample is of high quality when it lies within this many standard deviations of a mode.
RADIUS_STDS = 3.0
#: A mode is covered when it holds at least this fraction of its fair share n / K of the n samples. The papers count a
#: mode with one sample; a generator that spreads its samples uniformly over the square touches most grid modes by
#: chance, so that count is kept as `touched`, not as coverage.
COVERED_SHARE = 0.2


@dataclass(frozen=True)
class ModeScores:
    """What the mode metrics say about n samples of a generator on a K-mode mixture."""

    covered: int  # modes with at least COVERED_SHARE * n / K high-quality samples
    touched: int  # modes with at least one high-quality sample (the papers' count)
    high_quality: float  # fraction of samples within RADIUS_STDS std of some mode
    kl: float  # KL(histogram of the high-quality samples over modes || uniform), in nats; log K if there are none

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def mode_counts(samples: np.ndarray, mixture: Mixture2D) -> np.ndarray:
    """Per mode, the number of samples within RADIUS_STDS std of it (the modes are far apart, so none counts twice)."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    d2 = ((x[:, None, :] - mixture.means_array()) ** 2).sum(-1)
    nearest = d2.argmin(1)
    near = d2[np.arange(len(x)), nearest] <= (RADIUS_STDS * mixture.std) ** 2
    return np.bincount(nearest[near], minlength=len(mixture.means))


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) of the histogram p = counts / sum, in nats: 0 when even, log K when on one mode."""
    k, total = len(counts), counts.sum()
    if total == 0:
        return math.log(k)
    p = counts[counts > 0] / total
    return float((p * np.log(p * k)).sum())


def mode_scores(samples: np.ndarray, mixture: Mixture2D) -> ModeScores:
    """The mode metrics of `samples` (n x 2) on `mixture`."""
    counts = mode_counts(samples, mixture)
    n, k = len(np.asarray(samples).reshape(-1, 2)), len(counts)
    return ModeScores(
        covered=int((counts >= COVERED_SHARE * n / k).sum()),
        touched=int((counts > 0).sum()),
        high_quality=float(counts.sum() / n),
        kl=kl_to_uniform(counts),
    )
