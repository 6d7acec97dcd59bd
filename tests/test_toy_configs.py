"""The theory chapters' toy configs (configs/toy_1d_*.yaml) load, validate and describe 1-D runs."""

from pathlib import Path

import pytest

from gan_lib.config import load_config
from gan_lib.data import toy_distribution, training_data
from gan_lib.train import Trainer

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("toy_1d_*.yaml"))


def test_there_are_toy_configs():
    assert len(CONFIGS) >= 4


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_toy_config_builds_a_one_dimensional_trainer(path: Path):
    cfg = load_config(path).replace(toy_n=1000, batch_size=min(load_config(path).batch_size, 100), epochs=1)
    assert cfg.dataset == "toy" and cfg.noise_dim == 1
    data = training_data(cfg)
    assert data.shape == (1000, 1)
    assert abs(data.mean().item() - toy_distribution(cfg).mean) < 0.2
    trainer = Trainer(cfg, data)
    assert trainer.G(data[:5]).shape == (5, 1) and trainer.D(data[:5]).shape == (5,)
