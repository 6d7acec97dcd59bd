"""Shared fixtures: the MNIST folder and splits, and small configs that keep the unit tests fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gan_lib.config import Config
from gan_lib.data import MNIST, load_mnist

# The unit tests use tiny tensors; on a shared machine two intra-op threads only add synchronisation stalls.
torch.set_num_threads(1)


def mnist_folder_path() -> Path:
    """$GAN_LIB_MNIST_DIR, else the shared folder next to the repository."""
    env = os.environ.get("GAN_LIB_MNIST_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/mnist"


@pytest.fixture(scope="session")
def mnist_folder() -> Path:
    """The folder holding the four original MNIST files."""
    return mnist_folder_path()


@pytest.fixture(scope="session")
def mnist_splits(mnist_folder: Path) -> MNIST:
    """The real 50k/10k/10k splits, loaded once per session (no download)."""
    return load_mnist(mnist_folder, download=False)


@pytest.fixture(scope="session")
def mnist_subset(mnist_splits: MNIST) -> torch.Tensor:
    """The first 500 training images: five minibatches of 100."""
    return torch.from_numpy(mnist_splits.train_x[:500].copy())


@pytest.fixture
def toy_config() -> Config:
    """A 1-D toy run with tiny nets: 400 points, batches of 50."""
    return Config(
        dataset="toy",
        toy_weights=[0.5, 0.5],
        toy_means=[-2.0, 2.0],
        toy_stds=[0.5, 0.5],
        toy_n=400,
        noise_dim=2,
        g_hidden=[8],
        d_hidden=[8],
        d_pieces=2,
        batch_size=50,
        epochs=1,
    )


@pytest.fixture
def tiny_mnist_config(mnist_folder: Path) -> Config:
    """The paper's MNIST recipe with tiny nets (G 100-32-784, D maxout 16x5 twice)."""
    return Config(data_dir=str(mnist_folder), g_hidden=[32], d_hidden=[16, 16], epochs=1)
