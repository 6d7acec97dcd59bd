"""Run configuration: one flat, typed dataclass, loaded from YAML and validated on load."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader, plus YAML 1.2 floats such as 1e-3 (YAML 1.1 reads those as strings)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)


class ConfigError(ValueError):
    """A configuration problem; the message names the key and what was expected."""


@dataclass(frozen=True)
class Config:
    """Every knob of a run. Defaults are the paper's MNIST recipe (``configs/mnist_paper.yaml``)."""

    # data: "mnist"; a 1-D toy mixture given by toy_*; or the 2-D "ring" or "grid" (gan_lib.data.mixture2d). The toys
    # draw toy_n samples once with the seed
    dataset: str = "mnist"
    data_dir: str | None = None
    toy_weights: list[float] = field(default_factory=lambda: [1.0])
    toy_means: list[float] = field(default_factory=lambda: [0.0])
    toy_stds: list[float] = field(default_factory=lambda: [1.0])
    toy_n: int = 10000
    # noise p_z: uniform on [-sqrt 3, sqrt 3] (unit variance, as the original code) or standard normal
    noise: str = "uniform"
    noise_dim: int = 100
    # generator: ReLU MLP, sigmoid output for images (bias from pixel marginals), linear for toys
    g_hidden: list[int] = field(default_factory=lambda: [1200, 1200])
    g_init_range: float = 0.05
    # discriminator: maxout (units x pieces) or relu hidden layers; dropout keep probabilities per layer input
    d_arch: str = "maxout"
    d_hidden: list[int] = field(default_factory=lambda: [240, 240])
    d_pieces: int = 5
    d_init_range: float = 0.005
    d_dropout: bool = True
    d_keep_input: float = 0.8
    d_keep_hidden: float = 0.5
    # objective: generator loss and AdversaryCost2's gradient rescaling
    g_loss: str = "nonsaturating"
    scale_grads: bool = False
    target_scale: float = 0.1
    # updates: "simultaneous" (the original code) or "alternating" (Algorithm 1, k D-steps per G-step)
    update: str = "simultaneous"
    k: int = 1
    optimizer: str = "sgd"
    batch_size: int = 100
    lr: float = 0.1
    lr_decay: float = 1.000004
    lr_min: float = 1e-6
    momentum: float = 0.5
    momentum_final: float = 0.7
    momentum_start: int = 1
    momentum_saturate: int = 250
    adam_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    epochs: int = 1
    seed: int = 0
    # exponential moving averages of G's weights, one per decay, updated after every G step; read, never trained
    g_ema: list[float] = field(default_factory=list)
    # evaluation: Parzen log-likelihood every eval_every epochs (0 = never) with eval_samples samples
    eval_every: int = 0
    eval_samples: int = 10000

    def __post_init__(self) -> None:
        _check_types(self)
        _check_values(self)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {
    "dataset": ("mnist", "toy", "ring", "grid"),
    "noise": ("uniform", "normal"),
    "d_arch": ("maxout", "relu"),
    "g_loss": ("nonsaturating", "minimax"),
    "update": ("simultaneous", "alternating"),
    "optimizer": ("sgd", "adam"),
}
_POSITIVE = ("toy_n", "noise_dim", "d_pieces", "k", "batch_size", "lr", "target_scale", "epochs", "eval_samples")
_NON_NEGATIVE = ("g_init_range", "d_init_range", "lr_min", "eval_every")
_PROBABILITIES = ("d_keep_input", "d_keep_hidden")
_MOMENTA = ("momentum", "momentum_final")  # in [0, 1): with mu >= 1 the velocity never decays

#: Keys a resumed run may change: none of them alters the updates made so far or to come (a new average of G just
#: starts at the resume point). Any other change would make the run a mix of two runs.
RESUMABLE = ("data_dir", "epochs", "eval_every", "eval_samples", "g_ema")


def _check_types(cfg: Config) -> None:
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not _is_instance(value, hints[f.name]):
            raise ConfigError(f"config key '{f.name}': expected {_type_name(hints[f.name])}, got {value!r}")
        numbers = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise ConfigError(f"config key '{f.name}': expected finite numbers, got {value!r}")


def _is_instance(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, h) for h in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_is_instance(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_values(cfg: Config) -> None:
    for key, options in _CHOICES.items():
        if getattr(cfg, key) not in options:
            raise ConfigError(f"config key '{key}': expected one of {options}, got {getattr(cfg, key)!r}")
    for key in _POSITIVE:
        if not getattr(cfg, key) > 0:
            raise ConfigError(f"config key '{key}': must be > 0, got {getattr(cfg, key)!r}")
    for key in _NON_NEGATIVE:
        if not getattr(cfg, key) >= 0:
            raise ConfigError(f"config key '{key}': must be >= 0, got {getattr(cfg, key)!r}")
    for key in _PROBABILITIES:
        if not 0 < getattr(cfg, key) <= 1:
            raise ConfigError(f"config key '{key}': must be in (0, 1], got {getattr(cfg, key)!r}")
    for key in _MOMENTA:
        if not 0 <= getattr(cfg, key) < 1:
            raise ConfigError(f"config key '{key}': a momentum must be in [0, 1), got {getattr(cfg, key)!r}")
    if cfg.lr_decay < 1:
        raise ConfigError(f"config key 'lr_decay': must be >= 1 (lr is divided by it each step), got {cfg.lr_decay!r}")
    if not cfg.momentum_saturate >= cfg.momentum_start >= 0:
        raise ConfigError("config keys 'momentum_start', 'momentum_saturate': need 0 <= start <= saturate")
    if not (len(cfg.toy_weights) == len(cfg.toy_means) == len(cfg.toy_stds) > 0):
        raise ConfigError("config keys 'toy_weights', 'toy_means', 'toy_stds': need equal, non-zero lengths")
    if min(cfg.toy_weights) < 0 or not math.isclose(sum(cfg.toy_weights), 1.0, abs_tol=1e-9):
        raise ConfigError(f"config key 'toy_weights': expected weights >= 0 that sum to 1, got {cfg.toy_weights!r}")
    if min(cfg.toy_stds) <= 0:
        raise ConfigError(f"config key 'toy_stds': expected standard deviations > 0, got {cfg.toy_stds!r}")
    if len(cfg.adam_betas) != 2 or not all(0 <= b < 1 for b in cfg.adam_betas):
        raise ConfigError(f"config key 'adam_betas': expected two numbers in [0, 1), got {cfg.adam_betas!r}")
    if not all(0 < d < 1 for d in cfg.g_ema) or len(set(cfg.g_ema)) != len(cfg.g_ema):
        raise ConfigError(f"config key 'g_ema': expected distinct decays in (0, 1), got {cfg.g_ema!r}")
    if not cfg.g_hidden or not cfg.d_hidden or min(cfg.g_hidden + cfg.d_hidden) <= 0:
        raise ConfigError("config keys 'g_hidden', 'd_hidden': need at least one layer, all widths > 0")
    if cfg.update == "simultaneous" and cfg.k != 1:
        raise ConfigError("config key 'k': the simultaneous update has no k (it must be 1); use update: alternating")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``key=value`` overrides (values parsed as YAML) and validate."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            raw[key.strip()] = yaml.load(value, Loader=_Loader)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or "not valid YAML"
            raise ConfigError(
                f"override {item!r}: the value is not valid YAML ({problem}); e.g. g_hidden=[32, 32], lr=0.01"
            ) from None
    return config_from_dict(raw, source=str(path))


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (YAML 1.2 floats), or a ConfigError saying what is wrong with the file."""
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text file (expected YAML)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: expected a mapping of keys to values at top level")
    return raw


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build a Config from a mapping; an unknown key is an error naming the key."""
    known = [f.name for f in dataclasses.fields(Config)]
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        guesses = {key: difflib.get_close_matches(str(key), known, n=1) for key in unknown}
        hint = "; ".join(f"did you mean '{g[0]}' for '{key}'?" for key, g in guesses.items() if g)
        raise ConfigError(f"{source}: unknown config key(s) {unknown}; " + (hint or f"known keys: {sorted(known)}"))
    return Config(**raw)


def resume_config(stored: Config, requested: Config, source: str) -> Config:
    """The config of a resumed run: `stored`, with the keys in RESUMABLE taken from `requested`. A difference in any
    other key is a ConfigError naming it with both values: it would change the meaning of the run so far."""
    changed = [f.name for f in dataclasses.fields(Config) if getattr(stored, f.name) != getattr(requested, f.name)]
    refused = [key for key in changed if key not in RESUMABLE]
    if refused:
        differences = ", ".join(
            f"'{key}' (stored {json.dumps(getattr(stored, key))}, requested {json.dumps(getattr(requested, key))})"
            for key in refused
        )
        keep = " ".join(f"--set {key}={json.dumps(getattr(stored, key))}" for key in refused)
        raise ConfigError(
            f"{source} was trained with other values of config key(s) {differences}; a resumed run keeps its "
            f"config (only {', '.join(RESUMABLE)} may change): resume with {keep}, or start a new run in another folder"
        )
    return stored.replace(**{key: getattr(requested, key) for key in changed})
