"""Tests for gan_lib.classifier: the committed weights, embeddings, seeded training, checkpoint files, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan_lib import cli
from gan_lib.classifier import (
    DEFAULT_WEIGHTS,
    MnistNet,
    accuracy,
    embed,
    load_classifier,
    random_shift,
    save_classifier,
    train_classifier,
)
from gan_lib.data import MNIST
from gan_lib.files import CheckpointError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def committed() -> MnistNet:
    return load_classifier()


@pytest.fixture(scope="module")
def test_images(mnist_splits: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """The first 2,000 test images and labels."""
    return torch.from_numpy(mnist_splits.test_x[:2000].copy()), torch.from_numpy(mnist_splits.test_y[:2000].copy())


@pytest.fixture(scope="module")
def small_train(mnist_splits: MNIST) -> tuple[torch.Tensor, torch.Tensor]:
    """The first 500 training images and labels."""
    return torch.from_numpy(mnist_splits.train_x[:500].copy()), torch.from_numpy(mnist_splits.train_y[:500].copy())


# --- the committed weights -----------------------------------------------------------------------


def test_committed_weights_classify_test_images(committed: MnistNet, test_images) -> None:
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 2_000_000
    assert not committed.training
    assert accuracy(committed, *test_images) >= 0.99


def test_committed_weights_record_how_they_were_made() -> None:
    meta = torch.load(DEFAULT_WEIGHTS, weights_only=True)["meta"]
    assert meta["command"].startswith("python -m gan_lib classifier --epochs")
    assert meta["test_accuracy"] >= 0.99 and len(meta["valid_accuracy_per_epoch"]) == meta["epochs"]


def test_embed_shapes_and_probabilities(committed: MnistNet, test_images) -> None:
    x, _ = test_images
    feats, probs = embed(committed, x[:300], batch=128)  # three batches, the last one short
    assert feats.shape == (300, 128) and probs.shape == (300, 10)
    assert feats.dtype == probs.dtype == torch.float32
    assert feats.min() >= 0  # post-ReLU
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(300))
    with torch.no_grad():
        torch.testing.assert_close(feats, committed.features(x[:300]))
        torch.testing.assert_close(probs, committed.probs(x[:300]))
    assert not feats.requires_grad


# --- checkpoint files ----------------------------------------------------------------------------


def test_save_load_round_trip_is_exact(committed: MnistNet, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "net.pt"
    save_classifier(committed, path, {"epochs": 3, "note": "round trip"})
    loaded = load_classifier(path)
    assert os.listdir(path.parent) == ["net.pt"]  # no temp file left behind
    original = committed.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    assert all(torch.equal(v, original[k]) for k, v in loaded.state_dict().items())
    assert torch.load(path, weights_only=True)["meta"] == {"epochs": 3, "note": "round trip"}


@pytest.mark.parametrize("kind", ["missing", "truncated", "text", "other_checkpoint"])
def test_bad_weights_file_raises_checkpoint_error(kind: str, committed: MnistNet, tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    if kind == "truncated":
        save_classifier(committed, path, {})
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "text":
        path.write_text("not weights\n")
    elif kind == "other_checkpoint":
        torch.save({"G": {}, "config": {}}, path)
    with pytest.raises(CheckpointError) as e:
        load_classifier(path)
    assert str(path) in str(e.value) and "python -m gan_lib classifier" in str(e.value)


# --- training ------------------------------------------------------------------------------------


def test_random_shift_moves_whole_images() -> None:
    x = torch.zeros(50, 28, 28)
    x[:, 10:18, 12:16] = 1
    shifted = random_shift(x.view(50, -1), 2, torch.Generator().manual_seed(0)).view(50, 28, 28)
    assert torch.equal(shifted.sum(dim=(1, 2)), x.sum(dim=(1, 2)))  # the digit never leaves the frame here
    offsets = set()
    for img in shifted:
        rows, cols = img.nonzero(as_tuple=True)
        offsets.add((rows.min().item() - 10, cols.min().item() - 12))
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in offsets) and len(offsets) > 10


def test_training_is_seeded_and_learns(small_train) -> None:
    x, y = small_train
    state_before = torch.random.get_rng_state()
    a = train_classifier(x, y, epochs=1, seed=3, batch_size=10, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state_before)  # the global RNG is left alone
    b = train_classifier(x, y, epochs=1, seed=3, batch_size=10, progress=False)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    c = train_classifier(x[:40], y[:40], epochs=1, seed=4, batch_size=10, progress=False)
    assert not torch.equal(a.out.weight, c.out.weight)
    assert not a.training
    assert accuracy(a, x, y) > 0.4  # after 50 steps (0.59 when written); chance is about 0.1


# --- command line --------------------------------------------------------------------------------


def test_cli_trains_and_writes_loadable_weights(
    mnist_splits: MNIST, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    m = mnist_splits
    small = MNIST(m.train_x[:200], m.train_y[:200], m.valid_x[:100], m.valid_y[:100], m.test_x[:100], m.test_y[:100])
    monkeypatch.setattr(cli, "load_mnist", lambda data_dir: small)
    out = tmp_path / "net.pt"
    assert cli.main(["classifier", "--epochs", "2", "--seed", "5", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert set(result) == {"out", "test_accuracy", "valid_accuracy", "epochs", "seed"}
    assert (result["out"], result["epochs"], result["seed"]) == (str(out), 2, 5)
    assert [line.split(":")[0] for line in captured.err.split("\n") if line.startswith("epoch")] == [
        "epoch 1/2",
        "epoch 2/2",
    ]
    net = load_classifier(out)
    assert accuracy(net, small.test_x, small.test_y) == result["test_accuracy"]
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["command"] == f"python -m gan_lib classifier --epochs 2 --seed 5 --out {out} --quiet"
    assert meta["torch"] == torch.__version__ and len(meta["valid_accuracy_per_epoch"]) == 2
    assert meta["valid_accuracy_per_epoch"][-1] == result["valid_accuracy"]


def test_cli_refuses_non_positive_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["classifier", "--epochs", "0"])
    assert e.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_cli_help_in_a_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "gan_lib", "classifier", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m gan_lib classifier")
    assert all(option in result.stdout for option in ("--epochs", "--seed", "--out"))
