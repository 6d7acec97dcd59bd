"""Tests for gan_lib.data.mnist: the real splits, folder resolution, downloading, and corrupt-file errors."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gan_lib.data import mnist
from gan_lib.data.mnist import MNIST, MNISTError, load_mnist, mnist_dir

NAMES = list(mnist.FILES)
UNREACHABLE = "http://127.0.0.1:9/"  # discard port: connection refused at once


def real_mnist_dir() -> Path:
    """The shared folder with the original files, or $GAN_LIB_MNIST_DIR if set."""
    env = os.environ.get("GAN_LIB_MNIST_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/mnist"


def md5(path: Path) -> str:
    """Hex MD5 of a file's bytes."""
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def assert_names_everything(error: pytest.ExceptionInfo[MNISTError], folder: Path) -> None:
    """The missing-files error must name the folder and all four expected files."""
    message = str(error.value)
    assert str(folder) in message
    for name in NAMES:
        assert name in message


@pytest.fixture(scope="module")
def data() -> MNIST:
    """The real splits, loaded once for the module."""
    return load_mnist(real_mnist_dir(), download=False)


@pytest.fixture
def copy_dir(tmp_path: Path) -> Path:
    """A private copy of the four real files that a test may damage."""
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in NAMES:
        shutil.copyfile(real_mnist_dir() / name, folder / name)
    return folder


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset $GAN_LIB_MNIST_DIR so the cache fallback applies."""
    monkeypatch.delenv("GAN_LIB_MNIST_DIR", raising=False)


# --- the real data -------------------------------------------------------------------------------


def test_real_files_match_published_md5() -> None:
    for name, (expected, size) in mnist.FILES.items():
        path = real_mnist_dir() / name
        assert path.stat().st_size == size
        assert md5(path) == expected


def test_shapes_and_dtypes(data: MNIST) -> None:
    for x, y, n in [
        (data.train_x, data.train_y, 50000),
        (data.valid_x, data.valid_y, 10000),
        (data.test_x, data.test_y, 10000),
    ]:
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64


def test_pixels_are_bytes_over_255(data: MNIST) -> None:
    for x in (data.train_x, data.valid_x, data.test_x):
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_array_equal(np.round(x * 255) / np.float32(255), x)
    assert abs(float(data.train_x.mean()) - 0.1307) < 0.002  # the well-known MNIST pixel mean


def test_labels_and_split_order(data: MNIST) -> None:
    assert data.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    full = np.concatenate([data.train_y, data.valid_y])  # valid = training-file rows 50000..59999
    assert np.bincount(full, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(data.test_y, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_rows_follow_the_file_order(data: MNIST) -> None:
    with gzip.open(real_mnist_dir() / "train-images-idx3-ubyte.gz") as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(60000, 784) / np.float32(255)
    for split, rows in [(data.train_x, slice(0, 50000)), (data.valid_x, slice(50000, 60000))]:
        np.testing.assert_array_equal(split[[0, -1]], pixels[rows][[0, -1]])


def test_mnist_is_frozen(data: MNIST) -> None:
    with pytest.raises(AttributeError):
        data.train_x = data.test_x  # type: ignore[misc]


# --- folder resolution ---------------------------------------------------------------------------


def test_env_var_sets_the_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GAN_LIB_MNIST_DIR", str(tmp_path))
    assert mnist_dir() == tmp_path
    with pytest.raises(MNISTError) as error:
        load_mnist(download=False)
    assert_names_everything(error, tmp_path)


def test_explicit_path_beats_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GAN_LIB_MNIST_DIR", str(tmp_path / "from_env"))
    assert mnist_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert mnist_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_cache_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_env: None) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_dir() == tmp_path / "xdg/gan_lib/mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist_dir() == tmp_path / "home/.cache/gan_lib/mnist"


# --- missing files -------------------------------------------------------------------------------


def test_missing_folder_without_download(tmp_path: Path) -> None:
    folder = tmp_path / "absent"
    with pytest.raises(MNISTError) as error:
        load_mnist(folder, download=False)
    assert_names_everything(error, folder)
    assert "download=False" in str(error.value)
    assert not folder.exists()


def test_one_missing_file_without_download(copy_dir: Path) -> None:
    (copy_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTError, match="missing from .*: t10k-labels-idx1-ubyte.gz \\(") as error:
        load_mnist(copy_dir, download=False)
    assert_names_everything(error, copy_dir)


def test_unreachable_mirrors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mnist, "MIRRORS", (UNREACHABLE, UNREACHABLE))
    with pytest.raises(MNISTError, match="download failed") as error:
        load_mnist(tmp_path, download=True)
    assert_names_everything(error, tmp_path)
    assert UNREACHABLE in str(error.value) and "cannot download it (" in str(error.value)
    assert isinstance(error.value.__cause__.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []


# --- downloading ---------------------------------------------------------------------------------


def corrupt_mirror(tmp_path: Path) -> str:
    """A file:// mirror serving wrong bytes under every expected name."""
    folder = tmp_path / "bad_mirror"
    folder.mkdir()
    for name in NAMES:
        (folder / name).write_bytes(gzip.compress(b"not mnist"))
    return folder.as_uri() + "/"


def test_download_from_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = real_mnist_dir().resolve().as_uri() + "/"
    monkeypatch.setattr(mnist, "MIRRORS", (UNREACHABLE, corrupt_mirror(tmp_path), good))
    folder = tmp_path / "new/mnist"
    data = load_mnist(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)  # no temp files left
    for name, (expected, _) in mnist.FILES.items():
        assert md5(folder / name) == expected
    assert data.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_corrupt_mirror_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mnist, "MIRRORS", (corrupt_mirror(tmp_path),))
    folder = tmp_path / "mnist"
    with pytest.raises(MNISTError, match="MD5") as error:
        load_mnist(folder)
    assert_names_everything(error, folder)
    assert list(folder.iterdir()) == []


def test_only_missing_files_are_downloaded(monkeypatch: pytest.MonkeyPatch, copy_dir: Path) -> None:
    name = "train-labels-idx1-ubyte.gz"
    (copy_dir / name).unlink()
    monkeypatch.setattr(mnist, "MIRRORS", (real_mnist_dir().resolve().as_uri() + "/",))
    before = {p.name: p.stat().st_mtime_ns for p in copy_dir.iterdir()}
    load_mnist(copy_dir)
    assert md5(copy_dir / name) == mnist.FILES[name][0]
    assert {p.name: p.stat().st_mtime_ns for p in copy_dir.iterdir() if p.name != name} == before


# --- damaged files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [lambda raw: raw[: len(raw) // 2], lambda raw: b"plain text, not gzip"],
    ids=["truncated", "not_gzip"],
)
def test_damaged_file_is_reported_not_replaced(
    damage: Callable[[bytes], bytes], monkeypatch: pytest.MonkeyPatch, copy_dir: Path
) -> None:
    monkeypatch.setattr(mnist, "MIRRORS", (real_mnist_dir().resolve().as_uri() + "/",))
    path = copy_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    damaged = path.read_bytes()
    with pytest.raises(MNISTError, match="expected MD5") as error:
        load_mnist(copy_dir, download=True)
    assert str(path) in str(error.value) and "GAN_LIB_MNIST_DIR" in str(error.value)
    assert path.read_bytes() == damaged  # the user's file is neither deleted nor overwritten


def idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """Gzipped IDX bytes with the given header fields."""
    return gzip.compress(struct.pack(f">{1 + len(dims)}I", magic, *dims) + payload)


def test_parse_idx_accepts_well_formed_bytes() -> None:
    images = mnist._parse_idx(idx(2051, (2, 28, 28), bytes(range(256)) * 6 + bytes(32)), Path("x"), "images")
    assert images.shape == (2, 784) and images.dtype == np.uint8 and images[0, 255] == 255
    labels = mnist._parse_idx(idx(2049, (3,), bytes([7, 0, 9])), Path("y"), "labels")
    assert labels.tolist() == [7, 0, 9]


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        (b"\x1f\x8b but not really gzip", "labels", "not a valid gzip file"),
        (idx(2049, (3,), bytes(3))[:-6], "labels", "not a valid gzip file"),
        (gzip.compress(b"\x00\x00\x08"), "labels", "expected a 8-byte IDX header, found only 3"),
        (idx(2049, (1, 28, 28), bytes(784)), "images", "expected IDX magic 2051 \\(images\\), found 2049"),
        (idx(2051, (1,), bytes(1)), "labels", "expected IDX magic 2049 \\(labels\\), found 2051"),
        (idx(2051, (1, 32, 32), bytes(1024)), "images", "expected 28x28 images, found 32x32"),
        (idx(2051, (2, 28, 28), bytes(784)), "images", "promises 2 images \\(1568 payload bytes\\), found 784"),
        (idx(2049, (3,), bytes(4)), "labels", "promises 3 labels \\(3 payload bytes\\), found 4"),
    ],
    ids=[
        "not_gzip",
        "truncated_gzip",
        "short_header",
        "labels_as_images",
        "images_as_labels",
        "wrong_dims",
        "short_payload",
        "long_payload",
    ],
)
def test_parse_idx_rejects(raw: bytes, kind: str, expected: str) -> None:
    path = Path("/some/where/file.gz")
    with pytest.raises(MNISTError, match=expected) as error:
        mnist._parse_idx(raw, path, kind)  # type: ignore[arg-type]
    assert str(path) in str(error.value)
    assert "GAN_LIB_MNIST_DIR" in str(error.value)
