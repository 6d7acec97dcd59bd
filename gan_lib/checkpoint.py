"""Checkpoint files: atomic writes, and loading with errors that name the file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from gan_lib.config import Config, config_from_dict
from gan_lib.models import Generator, build_generator


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through `write` into a temp file beside `path`, fsync, then os.replace: a crash or an error
    never leaves a half-written file, and an existing file is only ever replaced by a complete one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save, atomically (see `write_atomic`)."""
    write_atomic(path, lambda f: torch.save(obj, f))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file."""


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `Trainer.save` (or a generator-only export), with a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(e).__name__}: {e}); is it a gan_lib checkpoint?"
        ) from e
    if not isinstance(state, dict) or "config" not in state or "G" not in state:
        raise CheckpointError(f"checkpoint {path} is not a gan_lib checkpoint (expected keys 'config' and 'G')")
    return state


def generator_export(
    config: dict[str, Any], epoch: int, step: int, G: dict[str, torch.Tensor], half: bool = False, **extra: Any
) -> dict[str, Any]:
    """The contents of a generator-only checkpoint, which `load_generator` (hence `sample` and `evaluate`) accepts."""
    dtype = torch.float16 if half else torch.float32
    weights = {k: v.detach().to("cpu", dtype) for k, v in G.items()}
    return {"config": config, "epoch": epoch, "step": step, "G": weights, **extra}


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, Config]:
    """G (eval mode, float32) and its config from a checkpoint."""
    state = load_checkpoint(path, device)
    cfg = config_from_dict(state["config"], source=str(path))
    d_out = state["G"]["out.weight"].shape[0]
    G = build_generator(cfg, d_out).to(device)
    G.load_state_dict({k: v.float() for k, v in state["G"].items()})
    return G.eval(), cfg
