"""Tests for gan_lib.published: a published run's log and its validation-chosen generators, read together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_lib.checkpoint import generator_export
from gan_lib.config import Config
from gan_lib.files import save_atomic
from gan_lib.published import PAPER_RUN, averages, generator_file, load_run
from gan_lib.train import Trainer


def score(test: float, valid: float) -> dict:
    return {"parzen_mean": test, "parzen_se": 2.0, "sigma": 0.2, "parzen_valid": valid}


LOG = [
    {"epoch": 10, **score(100.0, 101.0), "ema": {"0.99": score(150.0, 160.0), "0.9": score(120.0, 119.0)}},
    {"epoch": 20, **score(110.0, 99.0), "ema": {"0.99": score(140.0, 150.0), "0.9": score(130.0, 131.0)}},
    {"epoch": 21, "d_loss": 0.6},
]


def publish(folder: Path, cfg: Config, data: torch.Tensor, epochs: dict[str, int]) -> None:
    """A run folder as publish_run.py writes it: the log and one fp16 generator per name, saved at `epochs[name]`."""
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOG))
    state = Trainer(cfg, data).state_dict()
    for average in (None, 0.9, 0.99):
        name = "G" if average is None else f"ema{average}"
        export = generator_export(state | {"epoch": epochs[name]}, half=True)
        save_atomic(export, folder / generator_file(average))


def test_the_chosen_generators_are_those_of_the_best_validation_epoch(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    publish(tmp_path / "run", tiny_mnist_config, mnist_subset, {"G": 10, "ema0.9": 20, "ema0.99": 10})
    run = load_run("run", locate=lambda name: tmp_path / name)
    assert run.epoch == 21 and run.records == LOG
    assert list(run.generators) == ["G", "ema0.9", "ema0.99"]
    g, a9, a99 = run.generators.values()
    assert (g.epoch, a9.epoch, a99.epoch) == (10, 20, 10)  # G's best test score (epoch 20) is not the choice
    assert g.score == {"epoch": 10, **score(100.0, 101.0)} and a99.score["parzen_mean"] == 150.0
    assert (g.average, a9.average, g.label, a99.label) == (None, 0.9, "G", "average of G, decay 0.99")
    assert a9.G(torch.zeros(3, tiny_mnist_config.noise_dim)).shape == (3, 784)


def test_a_generator_file_from_another_epoch_than_the_log_chooses_is_refused(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    publish(tmp_path / "run", tiny_mnist_config, mnist_subset, {"G": 10, "ema0.9": 10, "ema0.99": 10})
    with pytest.raises(ValueError, match=r"generator_ema0\.9\.pt holds epoch 10, but its log chooses epoch 20"):
        load_run("run", locate=lambda name: tmp_path / name)


def test_averages_are_read_from_the_log() -> None:
    assert averages(LOG) == [0.9, 0.99]
    assert averages([{"epoch": 1, **score(1.0, 1.0)}]) == []
    assert generator_file(None) == "generator.pt" and generator_file(0.999) == "generator_ema0.999.pt"


def test_the_committed_paper_run_loads() -> None:
    run = load_run(PAPER_RUN)
    assert "G" in run.generators and run.epoch >= max(c.epoch for c in run.generators.values())
