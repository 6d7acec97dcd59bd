"""Tests for gan_lib.config: the paper defaults, YAML loading, overrides and validation errors."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml

from gan_lib.config import RESUMABLE, Config, ConfigError, config_from_dict, load_config, resume_config

PAPER_YAML = Path(__file__).resolve().parents[1] / "configs" / "mnist_paper.yaml"


def write_yaml(path: Path, mapping: dict) -> Path:
    path.write_text(yaml.safe_dump(mapping))
    return path


# --- the paper recipe ----------------------------------------------------------------------------


def test_paper_yaml_equals_defaults_except_epochs() -> None:
    cfg = load_config(PAPER_YAML)
    assert cfg.epochs == 1000
    assert cfg == Config().replace(epochs=1000)


def test_defaults_are_the_paper_recipe() -> None:
    cfg = Config()
    assert (cfg.dataset, cfg.noise, cfg.noise_dim) == ("mnist", "uniform", 100)
    assert cfg.g_hidden == [1200, 1200] and cfg.g_init_range == 0.05
    assert (cfg.d_arch, cfg.d_hidden, cfg.d_pieces, cfg.d_init_range) == ("maxout", [240, 240], 5, 0.005)
    assert cfg.d_dropout and (cfg.d_keep_input, cfg.d_keep_hidden) == (0.8, 0.5)
    assert (cfg.g_loss, cfg.scale_grads, cfg.target_scale) == ("nonsaturating", False, 0.1)
    assert (cfg.update, cfg.k, cfg.optimizer, cfg.batch_size) == ("simultaneous", 1, "sgd", 100)
    assert (cfg.lr, cfg.lr_decay, cfg.lr_min) == (0.1, 1.000004, 1e-6)
    assert (cfg.momentum, cfg.momentum_final, cfg.momentum_start, cfg.momentum_saturate) == (0.5, 0.7, 1, 250)


def test_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert load_config(path) == Config()


def test_dict_round_trip() -> None:
    cfg = Config(g_hidden=[7, 3], lr=0.25, dataset="toy")
    assert config_from_dict(cfg.to_dict()) == cfg


def test_config_is_frozen_and_replace_validates() -> None:
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    assert cfg.replace(lr=0.5).lr == 0.5 and cfg.lr == 0.1
    with pytest.raises(ConfigError, match="'lr'"):
        cfg.replace(lr=-1.0)


# --- overrides -----------------------------------------------------------------------------------


def test_overrides_are_parsed_as_yaml() -> None:
    cfg = load_config(
        PAPER_YAML,
        [
            "g_hidden=[64, 32]",
            "d_hidden=[16]",
            "lr=0.5",
            "d_dropout=false",
            "epochs=3",
            "noise= normal",
            "data_dir=/a=b",
            "update=alternating",
            "k=2",
        ],
    )
    assert cfg.g_hidden == [64, 32] and cfg.d_hidden == [16]
    assert cfg.lr == 0.5 and isinstance(cfg.lr, float)
    assert cfg.d_dropout is False
    assert cfg.epochs == 3 and cfg.noise == "normal"
    assert cfg.data_dir == "/a=b"  # split on the first '=' only
    assert (cfg.update, cfg.k) == ("alternating", 2)
    # everything not overridden keeps the file's value
    assert cfg.replace(
        g_hidden=[1200, 1200],
        d_hidden=[240, 240],
        lr=0.1,
        d_dropout=True,
        epochs=1000,
        noise="uniform",
        data_dir=None,
        update="simultaneous",
        k=1,
    ) == load_config(PAPER_YAML)


def test_later_override_wins() -> None:
    assert load_config(PAPER_YAML, ["epochs=2", "epochs=5"]).epochs == 5


@pytest.mark.parametrize("item", ["epochs", "=3", ""])
def test_override_without_key_value_is_an_error(item: str) -> None:
    with pytest.raises(ConfigError, match="expected key=value") as e:
        load_config(PAPER_YAML, [item])
    assert repr(item) in str(e.value)


def test_unknown_override_key_names_the_key() -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(PAPER_YAML, ["learning_rate=0.1"])


def test_a_misspelt_key_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'epochs' for 'ephocs'\\?") as e:
        load_config(PAPER_YAML, ["ephocs=2"])
    assert "known keys" not in str(e.value)


def test_malformed_override_value_names_the_override() -> None:
    with pytest.raises(ConfigError, match="override 'lr=\\[0.1': the value is not valid YAML"):
        load_config(PAPER_YAML, ["lr=[0.1"])


# --- resuming ------------------------------------------------------------------------------------


def test_resume_config_takes_only_the_resumable_keys() -> None:
    stored = Config(epochs=10, g_ema=[0.9])
    changes = {"epochs": 20, "eval_every": 5, "eval_samples": 100, "data_dir": "/data", "g_ema": [0.99]}
    assert set(changes) == set(RESUMABLE)
    resumed = resume_config(stored, stored.replace(**changes), "run")
    assert resumed == stored.replace(**changes)
    assert resume_config(stored, stored, "run") == stored


def test_resume_config_refuses_any_other_change_naming_both_values() -> None:
    stored = Config(lr=0.01, epochs=10)
    with pytest.raises(ConfigError) as e:
        resume_config(stored, stored.replace(lr=0.1, seed=3, epochs=20), "runs/x/checkpoint.pt")
    message = str(e.value)
    assert message.startswith("runs/x/checkpoint.pt was trained with other values of config key(s)")
    assert "'lr' (stored 0.01, requested 0.1), 'seed' (stored 0, requested 3)" in message
    assert "resume with --set lr=0.01 --set seed=0" in message and "epochs" not in message.split("(only")[0]


# --- validation ----------------------------------------------------------------------------------


def test_unknown_key_in_file_names_the_key_and_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "c.yaml", {"lr": 0.1, "g_hiden": [10]})
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "g_hiden" in str(e.value) and str(path) in str(e.value)


@pytest.mark.parametrize(
    "key, value",
    [
        ("lr", "fast"),
        ("g_hidden", 3),
        ("g_hidden", [1.5]),
        ("d_dropout", "yes"),
        ("epochs", 1.5),
        ("epochs", True),
        ("noise_dim", "100"),
        ("data_dir", 5),
        ("toy_means", "0"),
    ],
)
def test_wrong_type_names_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        config_from_dict({key: value})


def test_wrong_type_from_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('d_dropout: "yes"\n')
    with pytest.raises(ConfigError, match="'d_dropout'"):
        load_config(path)


def test_int_is_accepted_for_float() -> None:
    cfg = config_from_dict({"lr": 1, "target_scale": 2})
    assert cfg.lr == 1 and cfg.target_scale == 2


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"lr": -0.1}, "lr"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"d_keep_input": 0.0}, "d_keep_input"),
        ({"d_keep_input": 1.2}, "d_keep_input"),
        ({"d_keep_hidden": 0.0}, "d_keep_hidden"),
        ({"d_keep_hidden": 1.5}, "d_keep_hidden"),
        ({"d_arch": "conv"}, "d_arch"),
        ({"g_loss": "wasserstein"}, "g_loss"),
        ({"update": "sequential"}, "update"),
        ({"k": 2}, "k"),
        ({"momentum": -0.5}, "momentum"),
        ({"epochs": -1}, "epochs"),
        ({"lr_decay": 0.9}, "lr_decay"),
        ({"momentum_start": 5, "momentum_saturate": 2}, "momentum_start"),
        ({"adam_betas": [0.5]}, "adam_betas"),
        ({"adam_betas": [0.5, 1.0]}, "adam_betas"),
        ({"g_hidden": []}, "g_hidden"),
        ({"d_hidden": [16, 0]}, "d_hidden"),
        ({"toy_weights": [0.5, 0.5]}, "toy_weights"),
        ({"lr": math.inf}, "lr"),
        ({"lr_decay": math.inf}, "lr_decay"),
        ({"toy_means": [math.nan]}, "toy_means"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum_final": 5.0}, "momentum_final"),
        ({"epochs": 0}, "epochs"),
        ({"toy_weights": [0.5, 0.6], "toy_means": [0.0, 1.0], "toy_stds": [1.0, 1.0]}, "toy_weights"),
        ({"toy_weights": [1.5, -0.5], "toy_means": [0.0, 1.0], "toy_stds": [1.0, 1.0]}, "toy_weights"),
        ({"toy_stds": [0.0]}, "toy_stds"),
    ],
)
def test_bad_values_name_the_key(changes: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        config_from_dict(changes)


def test_keep_probability_one_and_alternating_k_are_valid() -> None:
    cfg = Config(d_keep_input=1.0, d_keep_hidden=1.0, update="alternating", k=3)
    assert (cfg.d_keep_input, cfg.k) == (1.0, 3)


# --- file errors ---------------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="does not exist") as e:
        load_config(path)
    assert str(path) in str(e.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("lr: [0.1, 0.2\nepochs: 3\n")
    with pytest.raises(ConfigError, match="not valid YAML") as e:
        load_config(path)
    assert str(path) in str(e.value)


def test_non_mapping_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- lr\n- 0.1\n")
    with pytest.raises(ConfigError, match="mapping") as e:
        load_config(path)
    assert str(path) in str(e.value)


def test_directory_instead_of_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    assert str(tmp_path) in str(e.value)
