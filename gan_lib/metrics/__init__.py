"""Sample-quality metrics: Table 1's Parzen-window log-likelihood and Figure 2's nearest neighbours (`parzen`), and
the feature-space scores of later GAN work (`features`) for comparing generators through a classifier."""

from gan_lib.metrics.features import class_coverage, frechet_distance, inception_score, precision_recall
from gan_lib.metrics.parzen import (
    SIGMAS,
    ParzenResult,
    nearest_neighbours,
    parzen_evaluate,
    parzen_log_likelihood,
    parzen_score,
)

__all__ = [
    "SIGMAS",
    "ParzenResult",
    "class_coverage",
    "frechet_distance",
    "inception_score",
    "nearest_neighbours",
    "parzen_evaluate",
    "parzen_log_likelihood",
    "parzen_score",
    "precision_recall",
]
