"""Pixel statistics of images in [0, 1]: MNIST digits are nearly black and white, blurred ones are grey."""

from __future__ import annotations

import torch
from torch import Tensor


def grey_fraction(images: Tensor, low: float = 0.1, high: float = 0.9) -> float:
    """The share of pixels strictly between `low` and `high`: neither background nor stroke, the mark of blur."""
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"grey_fraction needs 0 <= low < high <= 1, got low={low}, high={high}")
    x = torch.as_tensor(images)
    return ((x > low) & (x < high)).double().mean().item()
