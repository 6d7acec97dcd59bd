"""A reference MNIST classifier: its penultimate features and class probabilities feed the sample-quality metrics
(Fréchet distance, Inception-style score, class coverage, precision/recall).

The committed weights, `gan_lib/assets/mnist_classifier.pt`, come from ``python -m gan_lib classifier``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from gan_lib import PROG
from gan_lib.files import CheckpointError, save_atomic
from gan_lib.optim import set_hyperparameters

SIDE = 28
N_CLASSES = 10
N_FEATURES = 128
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081  # of the MNIST training images; inputs are standardised inside the net
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "assets" / "mnist_classifier.pt"
RETRAIN = f"{PROG} classifier"


class MnistNet(nn.Module):
    """conv5x5(32)-ReLU-maxpool2, conv5x5(64)-ReLU-maxpool2, Linear(1024, 128)-ReLU (the features), dropout,
    Linear(128, 10); it takes flat N x 784 images in [0, 1]."""

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc = nn.Linear(64 * 4 * 4, N_FEATURES)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(N_FEATURES, N_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """The N x 128 penultimate activations: the embedding the metrics compare."""
        h = ((x - PIXEL_MEAN) / PIXEL_STD).view(-1, 1, SIDE, SIDE)
        h = F.relu(F.max_pool2d(self.conv1(h), 2))  # = pool(relu(.)), on a quarter of the values
        h = F.relu(F.max_pool2d(self.conv2(h), 2))
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        """N x 10 class logits."""
        return self.out(self.dropout(self.features(x)))

    def probs(self, x: Tensor) -> Tensor:
        """N x 10 class probabilities (softmax of the logits)."""
        return self(x).softmax(dim=1)


def random_shift(x: Tensor, max_shift: int, rng: torch.Generator) -> Tensor:
    """Translate each flat 28 x 28 image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros."""
    n = len(x)
    padded = F.pad(x.view(n, SIDE, SIDE), (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=rng)
    grid = torch.arange(SIDE)
    rows, cols = (dy + grid)[:, :, None], (dx + grid)[:, None, :]
    return padded[torch.arange(n)[:, None, None], rows, cols].reshape(n, SIDE * SIDE)


def train_classifier(
    train_x: Tensor | np.ndarray,
    train_y: Tensor | np.ndarray,
    epochs: int,
    seed: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    max_shift: int = 2,
    progress: bool = True,
    on_epoch: Callable[[int, MnistNet], None] | None = None,
) -> MnistNet:
    """Adam with a cosine-decayed learning rate on shifted images; the same seed gives the same weights.
    `on_epoch(epoch, net)` runs after each epoch (e.g. to report validation accuracy). Returns the net in eval mode."""
    x, y = torch.as_tensor(train_x, dtype=torch.float32), torch.as_tensor(train_y, dtype=torch.int64)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = epochs * steps_per_epoch
    rng = torch.Generator().manual_seed(seed + 1)  # shuffling and shifts
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initial weights and dropout masks
        net = MnistNet()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        with tqdm(total=total, disable=not progress, unit="step", desc="classifier") as bar:
            for epoch in range(1, epochs + 1):
                net.train()
                for i, idx in enumerate(torch.randperm(len(x), generator=rng).split(batch_size)):
                    step = (epoch - 1) * steps_per_epoch + i
                    set_hyperparameters(opt, lr * 0.5 * (1 + math.cos(math.pi * step / total)))
                    xb = random_shift(x[idx], max_shift, rng) if max_shift else x[idx]
                    loss = F.cross_entropy(net(xb), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    bar.update()
                    bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
                if on_epoch is not None:
                    on_epoch(epoch, net)
    return net.eval()


@torch.no_grad()
def embed(net: MnistNet, x: Tensor | np.ndarray, batch: int = 2000) -> tuple[Tensor, Tensor]:
    """Features (N x 128) and class probabilities (N x 10) of flat images in [0, 1], in eval mode, `batch` at a time."""
    net.eval()
    x = torch.as_tensor(x, dtype=torch.float32)
    feats, probs = [], []
    for xb in x.split(batch):
        h = net.features(xb)
        feats.append(h)
        probs.append(net.out(h).softmax(dim=1))
    return torch.cat(feats), torch.cat(probs)


def accuracy(net: MnistNet, x: Tensor | np.ndarray, y: Tensor | np.ndarray, batch: int = 2000) -> float:
    """Fraction of images whose most probable class is the label."""
    _, probs = embed(net, x, batch)
    return (probs.argmax(dim=1) == torch.as_tensor(y)).double().mean().item()


def save_classifier(net: MnistNet, path: str | Path, meta: dict[str, Any]) -> None:
    """Write the weights and `meta` (plain values: how they were made, how well they do) atomically."""
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    save_atomic({"model": "MnistNet", "state": state, "meta": meta}, Path(path))


def load_classifier(path: str | Path | None = None) -> MnistNet:
    """The classifier (eval mode) from `path`, by default the committed `gan_lib/assets/mnist_classifier.pt`;
    a missing or unusable file raises CheckpointError naming it and the command that retrains it."""
    path = DEFAULT_WEIGHTS if path is None else Path(path)
    retrain = RETRAIN if path == DEFAULT_WEIGHTS else f"{RETRAIN} --out {path}"
    if not path.is_file():
        raise CheckpointError(f"classifier weights {path} do not exist; train them with `{retrain}`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("model") != "MnistNet":
            raise ValueError("not a MnistNet checkpoint (expected model='MnistNet')")
        net = MnistNet()
        net.load_state_dict({k: v.float() for k, v in state["state"].items()})
    except Exception as e:
        raise CheckpointError(
            f"classifier weights {path} could not be loaded ({type(e).__name__}: {e}); retrain them with `{retrain}`"
        ) from e
    return net.eval()
