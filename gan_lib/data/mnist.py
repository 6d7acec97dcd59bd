"""MNIST from the four original IDX files, split 50k/10k/10k as in Goodfellow et al. (2014).

The split is the paper's Pylearn2 one: train = rows [0, 50000) of the training file, valid = rows
[50000, 60000), test = the 10,000 t10k images. Every file is MD5-checked before it is parsed;
missing files are downloaded from public mirrors, and a file that is present but wrong is
reported, never replaced.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from gan_lib.files import write_atomic

ENV_VAR = "GAN_LIB_MNIST_DIR"
MIRRORS: tuple[str, ...] = (  # base URLs, tried in order; each ends in "/"
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
TIMEOUT_S = 30.0
FILES: dict[str, tuple[str, int]] = {  # name -> (MD5 of the .gz bytes, size in bytes)
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}
N_TRAIN = 50_000  # training-file rows used for training; the remaining 10,000 are validation
SIDE = 28
_MAGIC = {"images": 2051, "labels": 2049}
_FIX = (
    f"Delete it and re-run to download it again, or point {ENV_VAR} (or the `path` argument) "
    "at a folder holding the original files."
)


class MNISTError(Exception):
    """Any problem locating, downloading, verifying or parsing the MNIST files."""


@dataclass(frozen=True, eq=False)
class MNIST:
    """The three splits: images float32 in [0, 1] of shape (N, 784), labels int64 of shape (N,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def mnist_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding the MNIST files: `path`, else $GAN_LIB_MNIST_DIR, else the per-user cache."""
    if path is not None:
        return Path(path).expanduser()
    if env := os.environ.get(ENV_VAR):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "gan_lib" / "mnist"


def load_mnist(path: str | os.PathLike[str] | None = None, download: bool = True) -> MNIST:
    """Load the 50k/10k/10k split from `mnist_dir(path)`, first downloading missing files if `download`."""
    folder = mnist_dir(path)
    if download:
        _download_missing(folder)
    missing = _missing(folder)
    if missing:
        raise MNISTError(_missing_message(folder, missing, "downloading is disabled (download=False)"))
    train_x = _load(folder / "train-images-idx3-ubyte.gz", "images")
    train_y = _load(folder / "train-labels-idx1-ubyte.gz", "labels")
    return MNIST(
        train_x=train_x[:N_TRAIN],
        train_y=train_y[:N_TRAIN],
        valid_x=train_x[N_TRAIN:],
        valid_y=train_y[N_TRAIN:],
        test_x=_load(folder / "t10k-images-idx3-ubyte.gz", "images"),
        test_y=_load(folder / "t10k-labels-idx1-ubyte.gz", "labels"),
    )


def _missing(folder: Path) -> list[str]:
    """Names of the expected files that are not in `folder`."""
    try:
        return [name for name in FILES if not (folder / name).is_file()]
    except OSError as e:
        raise MNISTError(f"cannot read the MNIST folder {folder}: {e.strerror}. {_FIX}") from e


def _missing_message(folder: Path, missing: list[str], why: str) -> str:
    """One error message saying what is missing where, why, and how to supply the files."""
    return (
        f"MNIST files missing from {folder}: {', '.join(missing)} ({why}). "
        f"The folder must hold the four original files {', '.join(FILES)}. Copy them there, "
        f"or set {ENV_VAR} (or pass `path`) to a folder that holds them."
    )


def _download_missing(folder: Path) -> None:
    """Fetch each missing file from the first mirror that serves it with the right MD5."""
    missing = _missing(folder)
    if not missing:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MNISTError(_missing_message(folder, missing, f"cannot create the folder: {e}")) from e
    for name in missing:
        failures: list[str] = []
        error: Exception | None = None
        for url in (mirror + name for mirror in MIRRORS):
            try:
                _fetch(url, folder / name, FILES[name][0])
                break
            except (OSError, HTTPException, ValueError, MNISTError) as e:
                failures.append(f"{url}: {e}")
                error = e
        else:
            why = "download failed: " + ("; ".join(failures) or "no mirrors configured")
            raise MNISTError(_missing_message(folder, _missing(folder), why)) from error


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Download `url` to `dest` atomically, the file appearing only once its MD5 matches."""

    def download(out: BinaryIO) -> None:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
        except (OSError, HTTPException) as e:  # not a write error: write_atomic would say "cannot write dest"
            raise _download_error(e) from e
        with response:
            while chunk := _read_chunk(response):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise MNISTError(f"served a file with MD5 {digest.hexdigest()}, expected {md5}")

    write_atomic(dest, download)


def _read_chunk(response: BinaryIO) -> bytes:
    """The next MiB of a download; a network error is an MNISTError saying so."""
    try:
        return response.read(1 << 20)
    except (OSError, HTTPException) as e:
        raise _download_error(e) from e


def _download_error(error: Exception) -> MNISTError:
    """An MNISTError for a mirror that cannot be reached or breaks off, with the network's reason."""
    return MNISTError(f"cannot download it ({getattr(error, 'reason', None) or error})")


def _load(path: Path, kind: Literal["images", "labels"]) -> np.ndarray:
    """A verified, decoded file: images as float32 pixels / 255, labels as int64."""
    array = _parse_idx(_read(path), path, kind)
    return array.astype(np.float32) / np.float32(255) if kind == "images" else array.astype(np.int64)


def _read(path: Path) -> bytes:
    """The file's bytes, after checking their MD5 against the original distribution."""
    md5, size = FILES[path.name]
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MNISTError(f"cannot read {path}: {e}. {_FIX}") from e
    found = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    if found != md5:
        raise MNISTError(
            f"{path} is not the original MNIST file: expected MD5 {md5} ({size} bytes), "
            f"found MD5 {found} ({len(raw)} bytes). {_FIX}"
        )
    return raw


def _parse_idx(raw: bytes, path: Path, kind: Literal["images", "labels"]) -> np.ndarray:
    """Decode gzipped IDX bytes into uint8 rows, (N, 784) images or (N,) labels, checking every header field."""
    try:
        data = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise MNISTError(f"{path} is not a valid gzip file ({e}). {_FIX}") from e
    ndim = 3 if kind == "images" else 1
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise MNISTError(f"{path}: expected a {header}-byte IDX header, found only {len(data)} bytes. {_FIX}")
    magic, count, *shape = struct.unpack(f">{1 + ndim}I", data[:header])
    if magic != _MAGIC[kind]:
        raise MNISTError(f"{path}: expected IDX magic {_MAGIC[kind]} ({kind}), found {magic}. {_FIX}")
    if kind == "images" and shape != [SIDE, SIDE]:
        raise MNISTError(f"{path}: expected {SIDE}x{SIDE} images, found {shape[0]}x{shape[1]}. {_FIX}")
    row = SIDE * SIDE if kind == "images" else 1
    if len(data) - header != count * row:
        raise MNISTError(
            f"{path}: header promises {count} {kind} ({count * row} payload bytes), "
            f"found {len(data) - header} payload bytes. {_FIX}"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header)
    return array.reshape(count, row) if kind == "images" else array
