"""Checkpoint files: what they hold, and loading them with errors that name the file.

A training checkpoint (`Trainer.save`, after every epoch) is a dict:

- ``config``: the run's `Config` as a dict; ``epoch``, ``step``: epochs and minibatches done;
- ``G``, ``D``: the networks' state dicts; ``opt_g``, ``opt_d``: their optimisers' state dicts (MomentumSGD keeps
  ``buf`` per parameter and ``last_lr`` per group); ``rng``: the state of the run's torch.Generator;
- ``G_ema``: str(decay) -> state dict of the AveragedModel of G with that decay (absent before averages existed).

A generator-only checkpoint (`generator_export`: ``export``, and the generators kept at each evaluation) holds
``config``, ``epoch``, ``step`` and ``G`` (maybe fp16), and maybe ``ema_decay``; `load_generator` reads both kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from gan_lib.config import Config, ConfigError, config_from_dict
from gan_lib.files import CheckpointError
from gan_lib.models import Generator, build_generator

GENERATOR_KEYS = ("config", "epoch", "step", "G")
TRAINING_KEYS = (*GENERATOR_KEYS, "D", "opt_g", "opt_d", "rng")  # and G_ema, optional


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", training: bool = False) -> dict[str, Any]:
    """Read a checkpoint, with a clear error if it is not one; with `training`, only a resumable one (a training
    checkpoint with finite weights)."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint {path} {what}")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(e).__name__}: {e}); is it a gan_lib checkpoint?"
        ) from e
    if not isinstance(state, dict) or not {"config", "G"} <= set(state):
        raise CheckpointError(f"checkpoint {path} is not a gan_lib checkpoint (expected keys 'config' and 'G')")
    missing = [k for k in (TRAINING_KEYS if training else GENERATOR_KEYS) if k not in state]
    if training and "D" not in state:
        raise CheckpointError(f"checkpoint {path} holds only a generator (an export); it cannot be resumed")
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}; it was not written by gan_lib")
    for key in ("epoch", "step"):
        if key in state and (type(state[key]) is not int or state[key] < 0):
            raise CheckpointError(
                f"checkpoint {path}: '{key}' is {state[key]!r}, not a whole number >= 0; it was not written by gan_lib"
            )
    if not isinstance(state["G"], dict) or not all(isinstance(v, torch.Tensor) for v in state["G"].values()):
        raise CheckpointError(f"checkpoint {path}: 'G' is not a state dict of tensors")
    if training and not all_finite({k: state[k] for k in ("G", "D", "opt_g", "opt_d")}):
        raise CheckpointError(
            f"checkpoint {path} holds non-finite weights (NaN or inf: the run diverged); it cannot be resumed"
        )
    return state


def checkpoint_config(state: Mapping[str, Any], path: str | Path) -> Config:
    """The validated config stored in a checkpoint; a bad one is a CheckpointError naming the file."""
    if not isinstance(state["config"], dict):
        raise CheckpointError(f"checkpoint {path}: 'config' is not a mapping of config keys")
    try:
        return config_from_dict(state["config"], source=f"checkpoint {path}")
    except ConfigError as e:
        message = str(e) if str(path) in str(e) else f"checkpoint {path} holds an invalid config: {e}"
        raise CheckpointError(message) from e


def all_finite(tensors: Mapping[str, Any]) -> bool:
    """Whether every floating-point tensor in a (nested) state dict is finite (one device sync in all)."""
    checks = [t.isfinite().all() for t in _floating_tensors(tensors)]
    return bool(torch.stack(checks).all()) if checks else True


def _floating_tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() else []
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in _floating_tensors(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _floating_tensors(v)]
    return []


def generator_export(state: Mapping[str, Any], half: bool = False, **extra: Any) -> dict[str, Any]:
    """The generator-only checkpoint of a training checkpoint `state`: its config, epoch, step and G (on the CPU,
    fp16 if `half`), plus `extra` entries. `load_generator`, hence `sample` and `evaluate`, reads it."""
    dtype = torch.float16 if half else torch.float32
    G = {k: v.detach().to("cpu", dtype) for k, v in state["G"].items()}
    return {**{k: state[k] for k in GENERATOR_KEYS}, "G": G, **extra}


class GeneratorCheckpoint(NamedTuple):
    """What `load_generator` returns: G in eval mode (float32), its config, and the epoch and step it was saved at."""

    G: Generator
    cfg: Config
    epoch: int
    step: int


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> GeneratorCheckpoint:
    """G (eval mode, float32), its config, epoch and step from a training or generator-only checkpoint file."""
    return read_generator(load_checkpoint(path, device), path, device)


def read_generator(
    state: Mapping[str, Any], path: str | Path, device: str | torch.device = "cpu"
) -> GeneratorCheckpoint:
    """The generator of a loaded checkpoint `state` (read from `path`). Weights that are not finite (a run that
    diverged) or do not fit the config are a CheckpointError naming the file."""
    cfg = checkpoint_config(state, path)
    weights = state["G"]
    if "out.weight" not in weights or weights["out.weight"].dim() != 2:
        raise CheckpointError(f"checkpoint {path}: 'G' holds no generator weights (no 2-D 'out.weight')")
    if not all_finite(weights):
        raise CheckpointError(
            f"checkpoint {path} holds non-finite generator weights (NaN or inf: the run diverged); "
            "use a checkpoint from before the divergence"
        )
    G = build_generator(cfg, weights["out.weight"].shape[0]).to(device)
    try:
        G.load_state_dict({k: v.float() for k, v in weights.items()})
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path}: 'G' does not fit the generator of its config ({e})") from e
    return GeneratorCheckpoint(G.eval(), cfg, int(state["epoch"]), int(state["step"]))
