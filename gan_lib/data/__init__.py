"""Datasets: MNIST with the original splits, 1-D toy distributions and 2-D mixtures, the toys with exact densities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gan_lib.data.mnist import MNIST, MNISTError, load_mnist, mnist_dir
from gan_lib.data.mixture2d import BENCHMARKS, Mixture2D, grid, ring
from gan_lib.data.toy import Gaussian, Mixture

if TYPE_CHECKING:
    from gan_lib.config import Config

__all__ = [
    "BENCHMARKS",
    "MNIST",
    "Gaussian",
    "MNISTError",
    "Mixture",
    "Mixture2D",
    "grid",
    "load_mnist",
    "mnist_dir",
    "ring",
    "toy_distribution",
    "training_data",
]


def toy_distribution(cfg: Config) -> Mixture:
    """The 1-D mixture p_data that the toy_* keys describe, with its exact density."""
    return Mixture(tuple(cfg.toy_weights), tuple(cfg.toy_means), tuple(cfg.toy_stds))


def training_data(cfg: Config, mnist: MNIST | None = None) -> torch.Tensor:
    """The training set as an N x dim float32 tensor: MNIST train[0:50000] (from `mnist` when it is already loaded),
    or toy_n draws from the toy mixture."""
    if cfg.dataset == "mnist":
        return torch.from_numpy((load_mnist(cfg.data_dir) if mnist is None else mnist).train_x)
    if cfg.dataset in BENCHMARKS:
        return BENCHMARKS[cfg.dataset]().sample(cfg.toy_n, cfg.seed)
    return toy_distribution(cfg).sample(cfg.toy_n, cfg.seed)
