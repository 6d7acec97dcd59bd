"""Figures in the paper's style: grids of 28 x 28 digits."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from torch import Tensor


def tile(images: np.ndarray | Tensor, rows: int, cols: int, pad: int = 2, side: int = 28) -> np.ndarray:
    """Arrange rows*cols flat images (N x side^2, values in [0, 1]) into one 2-D array, `pad` grey pixels apart."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, side, side)
    if len(images) != rows * cols:
        raise ValueError(f"tile needs rows * cols = {rows * cols} images, got {len(images)}")
    step = side + pad
    canvas = np.full((rows * step - pad, cols * step - pad), 0.5, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * step : r * step + side, c * step : c * step + side] = img
    return canvas


def show_digits(ax: Axes, images: np.ndarray | Tensor, rows: int, cols: int, title: str = "") -> None:
    """Draw a grid of digits on `ax`, white on black as MNIST stores them."""
    ax.imshow(tile(images, rows, cols), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
