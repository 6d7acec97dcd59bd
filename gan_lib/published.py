"""A training run as the repository publishes it (``scripts/publish_run.py``): its log, and G and each average of G
at the epoch chosen on validation, read together so that the chapters report the files as they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_lib.checkpoint import load_generator
from gan_lib.config import Config
from gan_lib.models import Generator
from gan_lib.resources import resource
from gan_lib.train import best_evaluation, read_log

#: The faithful MNIST run of the paper's recipe (configs/mnist_paper.yaml), as committed.
PAPER_RUN = "checkpoints/mnist_paper"


@dataclass(frozen=True, eq=False)
class ChosenGenerator:
    """G or one average of G at its validation-chosen epoch, with the log's scores of that epoch (`score`: the epoch
    and `gan_lib.train.SCORE_KEYS`)."""

    name: str  # "G", "ema0.999"
    label: str  # "G", "average of G, decay 0.999"
    average: float | None
    G: Generator
    cfg: Config
    score: dict[str, Any]

    @property
    def epoch(self) -> int:
        return int(self.score["epoch"])


@dataclass(frozen=True, eq=False)
class PublishedRun:
    """A run's log (one dict per epoch) and its chosen generators by name, G first."""

    records: list[dict[str, Any]]
    generators: dict[str, ChosenGenerator]

    @property
    def epoch(self) -> int:
        """The last epoch the log records: how far the run has trained."""
        return int(self.records[-1]["epoch"])


def averages(records: list[dict[str, Any]]) -> list[float]:
    """The decays of the averages of G that a run log scores, ascending."""
    return sorted({float(d) for r in records for d in r.get("ema", {})})


def generator_file(average: float | None) -> str:
    """The published file of G (average None) or of its average with that decay."""
    return "generator.pt" if average is None else f"generator_ema{average}.pt"


def load_run(folder: str = PAPER_RUN, locate: Callable[[str], Path] = resource) -> PublishedRun:
    """The published run in `folder` (a repository path, found by `locate`): its log and, for G and each average, the
    generator file, which must hold the epoch that `best_evaluation` chooses from the log."""
    records = read_log(locate(f"{folder}/metrics.jsonl"))
    if not records:
        raise ValueError(f"{folder}/metrics.jsonl is empty; publish the run again")
    chosen = {}
    for average in (None, *averages(records)):
        name = "G" if average is None else f"ema{average}"
        path = locate(f"{folder}/{generator_file(average)}")
        best = best_evaluation(records, average)
        G, cfg, epoch, _ = load_generator(path)
        if epoch != best["epoch"]:
            raise ValueError(
                f"{path} holds epoch {epoch}, but its log chooses epoch {best['epoch']}; publish the run again"
            )
        label = "G" if average is None else f"average of G, decay {average}"
        chosen[name] = ChosenGenerator(name, label, average, G, cfg, best)
    return PublishedRun(records, chosen)
