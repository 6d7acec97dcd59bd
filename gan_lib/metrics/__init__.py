"""Sample-quality metrics: Table 1's Parzen-window log-likelihood (`parzen`) and how training runs apply it
(`protocol`), Figure 2's nearest neighbours (`distances`), and the feature-space scores of later GAN work
(`features`) for comparing generators through a classifier, and the share of grey pixels (`pixels`) that shows blur."""

from gan_lib.metrics.distances import nearest_neighbours, sq_distances
from gan_lib.metrics.features import class_coverage, frechet_distance, inception_score, precision_recall
from gan_lib.metrics.parzen import SIGMAS, ParzenResult, parzen_evaluate, parzen_log_likelihood
from gan_lib.metrics.pixels import grey_fraction
from gan_lib.metrics.protocol import EVAL_SEED, ParzenProtocol, parzen_hook

__all__ = [
    "EVAL_SEED",
    "SIGMAS",
    "ParzenProtocol",
    "ParzenResult",
    "class_coverage",
    "frechet_distance",
    "grey_fraction",
    "inception_score",
    "nearest_neighbours",
    "parzen_evaluate",
    "parzen_hook",
    "parzen_log_likelihood",
    "precision_recall",
    "sq_distances",
]
