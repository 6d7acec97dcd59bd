"""Datasets: MNIST with the original splits, and 1-D toy distributions with exact densities."""

from gan_lib.data.mnist import MNIST, MNISTError, load_mnist, mnist_dir
from gan_lib.data.toy import Gaussian, Mixture

__all__ = ["MNIST", "Gaussian", "MNISTError", "Mixture", "load_mnist", "mnist_dir"]
