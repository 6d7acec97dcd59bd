"""Datasets: MNIST with the original splits, and 1-D toy distributions with exact densities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gan_lib.data.mnist import MNIST, MNISTError, load_mnist, mnist_dir
from gan_lib.data.toy import Gaussian, Mixture

if TYPE_CHECKING:
    from gan_lib.config import Config

__all__ = ["MNIST", "Gaussian", "MNISTError", "Mixture", "load_mnist", "mnist_dir", "training_data"]


def training_data(cfg: Config) -> torch.Tensor:
    """The training set as an N x dim float32 tensor: MNIST train[0:50000], or toy_n draws from the toy mixture."""
    if cfg.dataset == "mnist":
        return torch.from_numpy(load_mnist(cfg.data_dir).train_x)
    return Mixture(tuple(cfg.toy_weights), tuple(cfg.toy_means), tuple(cfg.toy_stds)).sample(cfg.toy_n, cfg.seed)
