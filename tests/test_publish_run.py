"""Tests for scripts/publish_run.py: the validation-chosen generators, the log and the README status are published
from a run folder, also after the run was resumed from the published checkpoint and lost its earlier generators."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gan_lib.checkpoint import load_generator
from gan_lib.config import Config
from gan_lib.train import Trainer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "publish_run.py"
_spec = importlib.util.spec_from_file_location("publish_run", SCRIPT)
publish_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(publish_run)

README = """# A run

intro

## Where the run stands: old

| stale | table |

## Reproduce

commands
"""


def score(valid: float, test: float) -> dict[str, float]:
    """A logged Parzen evaluation."""
    return {"parzen_valid": valid, "parzen_mean": test, "parzen_se": 2.0, "sigma": 0.2}


def make_run(folder: Path, cfg: Config, data: torch.Tensor, valid: dict[int, tuple[float, float]]) -> None:
    """A run folder whose log scores G at the epochs of `valid` ({epoch: (G's valid, the average's valid)}), with
    the kept generators of those epochs and the full checkpoint of the last."""
    trainer = Trainer(cfg, data)
    (folder / "generators").mkdir(parents=True)
    lines = []
    for epoch in range(1, max(valid) + 1):
        trainer.epoch, trainer.step = epoch, epoch * 5
        record = {"epoch": epoch, "step": epoch * 5}
        if epoch in valid:
            g, a = valid[epoch]
            record |= score(g, g - 3) | {"ema": {"0.9": score(a, a - 3)}}
            trainer.save_generators(folder / "generators")
        lines.append(json.dumps(record))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    trainer.save(folder / "checkpoint.pt")


@pytest.fixture
def cfg(tiny_mnist_config: Config) -> Config:
    """The tiny MNIST recipe with one average of G."""
    return tiny_mnist_config.replace(g_ema=[0.9])


def test_publish_copies_the_chosen_generators_and_rewrites_the_status(
    cfg: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    run, dest = tmp_path / "run", tmp_path / "dest"
    make_run(run, cfg, mnist_subset, {2: (10.0, 30.0), 4: (20.0, 25.0), 6: (15.0, 28.0)})
    dest.mkdir()
    (dest / "README.md").write_text(README)
    publish_run.publish(run, dest, full=True)
    assert load_generator(dest / "generator.pt").epoch == 4  # the best validation score, not the last epoch
    assert load_generator(dest / "generator_ema0.9.pt").epoch == 2
    assert (dest / "generator.pt").read_bytes() == (run / "generators/epoch0004_G.pt").read_bytes()
    text = (dest / "README.md").read_text()
    assert "stale" not in text and text.startswith("# A run\n\nintro\n\n## Where the run stands: 6 epochs (30 updates)")
    assert "| G (faithful) | 4 | 20.0 | 17.0 +- 2.0 | 0.200 |" in text
    assert "| 6 | 15.0 / 12.0 | 28.0 / 25.0 |" in text  # the last evaluation is on the curve
    assert "checkpoint.pt` here is at epoch 6" in text
    assert text.endswith("## Reproduce\n\ncommands\n")


def test_a_resumed_run_keeps_a_published_generator_of_an_earlier_epoch(
    cfg: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    run, dest = tmp_path / "run", tmp_path / "dest"
    make_run(run, cfg, mnist_subset, {2: (10.0, 30.0), 4: (20.0, 25.0)})
    dest.mkdir()
    (dest / "README.md").write_text(README)
    publish_run.publish(run, dest, full=False)
    for kept in (run / "generators").glob("epoch0002_*"):
        kept.unlink()  # the run folder was lost and the run resumed from the published state
    publish_run.publish(run, dest, full=False)
    assert load_generator(dest / "generator_ema0.9.pt").epoch == 2
    (dest / "generator_ema0.9.pt").unlink()
    with pytest.raises(SystemExit, match="chosen ema0.9 of epoch 2 is neither in"):
        publish_run.publish(run, dest, full=False)


def test_a_readme_without_the_status_section_is_an_error() -> None:
    with pytest.raises(SystemExit, match="no section starting with '## Where the run stands'"):
        publish_run.replace_status("# A run\n\nno status\n", "## Where the run stands: 1 epoch\n")


def test_the_status_says_whether_the_run_goes_on_or_why_it_stopped() -> None:
    evaluated = [{"epoch": e, "step": 5 * e, **score(100.0 + e / 100, 90.0), "ema": {"0.9": score(1.0, 1.0)}}
                 for e in (10, 20)]
    going = publish_run.status_section(evaluated, [0.9], checkpoint_epoch=20)
    assert "The curve so far (validation / test)" in going and "None of these holds yet." in going
    ended = publish_run.status_section([*evaluated, {"epoch": 1600, "step": 8000}], [0.9], checkpoint_epoch=None)
    assert "The curve (validation / test)" in ended and "It has stopped. Reason: plateau" in ended
    assert "checkpoint.pt" not in ended
