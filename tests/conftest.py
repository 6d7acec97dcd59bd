"""Shared fixtures and helpers: the MNIST folder and splits, small configs that keep the unit tests fast, running the
command line, and file permissions that hold even for root."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from gan_lib.config import Config
from gan_lib.data import MNIST, load_mnist

REPO = Path(__file__).resolve().parents[1]

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


def run_module(*args: str, cwd: Path, mnist_folder: Path, **kwargs) -> subprocess.CompletedProcess:
    """`python -m gan_lib ...` in a fresh interpreter (kwargs go to subprocess.run, e.g. preexec_fn)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "GAN_LIB_MNIST_DIR": str(mnist_folder), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gan_lib", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )


def assert_one_line_error(rc: int, out: str, err: str, *names: str) -> None:
    """Exit code 2, nothing on stdout, and exactly one stderr line 'error: ...' that names each of `names`."""
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0], lines[0]


_FILE_CAPABILITIES = (1 << 1) | (1 << 2) | (1 << 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _set_effective_file_capabilities(on: bool) -> None:
    """Add or remove the capabilities that let root ignore file permissions (this thread only, as Linux does)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    if on:
        data[0].effective |= data[0].permitted & _FILE_CAPABILITIES
    else:
        data[0].effective &= ~_FILE_CAPABILITIES & 0xFFFFFFFF
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


@contextmanager
def file_permissions_enforced() -> Iterator[None]:
    """Within the block file permissions hold even for root (who otherwise reads and writes anything); a test that
    needs this is skipped where the capabilities cannot be changed."""
    if os.geteuid() != 0:
        yield
        return
    try:
        _set_effective_file_capabilities(False)
    except (OSError, AttributeError) as e:
        pytest.skip(f"cannot drop root's file capabilities here: {e}")
    try:
        yield
    finally:
        _set_effective_file_capabilities(True)
