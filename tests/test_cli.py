"""Tests for gan_lib.cli: train / sample / evaluate / export, end to end, and their one-line errors."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import assert_one_line_error, run_module

from gan_lib import cli
from gan_lib.checkpoint import load_checkpoint
from gan_lib.cli import main
from gan_lib.metrics import SIGMAS

REPO = Path(__file__).resolve().parents[1]
PAPER_YAML = REPO / "configs" / "mnist_paper.yaml"
TINY = {"g_hidden": [32], "d_hidden": [16, 16], "epochs": 1}


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/mnist_paper.yaml with tiny nets and one epoch."""
    raw = yaml.safe_load(PAPER_YAML.read_text()) | TINY
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def patch_environment(monkeypatch: pytest.MonkeyPatch, mnist_folder: Path, subset: torch.Tensor) -> None:
    """Point the CLI at the real MNIST folder, and let in-process `train` use the first 1,000 training images
    (ten minibatches) instead of all 50,000; the subprocess test trains on the full set."""
    monkeypatch.setenv("GAN_LIB_MNIST_DIR", str(mnist_folder))
    monkeypatch.setattr(cli, "training_data", lambda cfg: subset)


@pytest.fixture(scope="module")
def small_train_set(mnist_splits) -> torch.Tensor:
    return torch.from_numpy(mnist_splits.train_x[:1000].copy())


@pytest.fixture(scope="module")
def trained(
    tiny_yaml: Path, tmp_path_factory: pytest.TempPathFactory, mnist_folder: Path, small_train_set: torch.Tensor
) -> Path:
    """An output folder after `train tiny.yaml` (one epoch of ten steps)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_environment(monkeypatch, mnist_folder, small_train_set)
        out = tmp_path_factory.mktemp("run") / "out"
        assert main(["train", str(tiny_yaml), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def mnist_env(monkeypatch: pytest.MonkeyPatch, mnist_folder: Path, small_train_set: torch.Tensor) -> None:
    patch_environment(monkeypatch, mnist_folder, small_train_set)


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, option", [("train", "--resume"), ("sample", "--n"), ("evaluate", "--data-dir"), ("export", "--half")]
)
def test_help(command: str, option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and f"{command}" in out.splitlines()[0] and option in out


def test_top_level_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("train", "sample", "evaluate", "export"))


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2


# --- train ---------------------------------------------------------------------------------------


def test_train_writes_checkpoint_and_metrics(trained: Path) -> None:
    assert sorted(os.listdir(trained)) == ["checkpoint.pt", "metrics.jsonl"]
    lines = (trained / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert (record["epoch"], record["step"]) == (1, 10)
    assert math.isfinite(record["d_loss"]) and math.isfinite(record["g_loss"])
    state = load_checkpoint(trained / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (1, 10)
    assert state["config"]["g_hidden"] == [32] and state["config"]["d_hidden"] == [16, 16]
    assert state["G"]["out.weight"].shape == (784, 32)


def test_train_scores_g_and_its_averages_and_keeps_each_scored_generator(
    tiny_yaml: Path, tmp_path: Path, mnist_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    overrides = ["--set", "epochs=2", "--set", "eval_every=2", "--set", "eval_samples=200", "--set", "g_ema=[0.9]"]
    assert main(["train", str(tiny_yaml), "--out", str(out), "--quiet", *overrides]) == 0
    first, second = (json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())
    assert "parzen_mean" not in first
    scores = {"parzen_mean", "parzen_se", "sigma", "parzen_valid"}
    assert scores <= set(second) and set(second["ema"]) == {"0.9"} and set(second["ema"]["0.9"]) == scores
    assert sorted(os.listdir(out / "generators")) == ["epoch0002_G.pt", "epoch0002_ema0.9.pt"]
    capsys.readouterr()
    assert main(["evaluate", str(out / "generators" / "epoch0002_ema0.9.pt"), "--n", "200"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in scores:  # the fp16 copy scores as the average did during training
        assert again[key] == pytest.approx(second["ema"]["0.9"][key], abs=0.05)


def test_train_end_to_end_in_a_subprocess(tmp_path: Path, mnist_folder: Path) -> None:
    result = run_module(
        "train",
        str(PAPER_YAML),
        "--out",
        "run",
        "--quiet",
        "--set",
        "g_hidden=[16]",
        "--set",
        "d_hidden=[8]",
        "--set",
        "epochs=1",
        "--set",
        "batch_size=500",
        cwd=tmp_path,
        mnist_folder=mnist_folder,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"checkpoint": str(Path("run") / "checkpoint.pt"), "epoch": 1, "step": 100}
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.pt", "metrics.jsonl"]
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["batch_size"] == 500


def test_errors_in_a_subprocess_are_one_line(tmp_path: Path, mnist_folder: Path) -> None:
    result = run_module("train", "missing.yaml", cwd=tmp_path, mnist_folder=mnist_folder)
    assert_one_line_error(result.returncode, result.stdout, result.stderr, "missing.yaml")
    assert not (tmp_path / "runs").exists()


def test_existing_checkpoint_is_not_overwritten_without_resume(
    trained: Path, tiny_yaml: Path, tmp_path: Path, mnist_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    shutil.copytree(trained, out)
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    rc = main(["train", str(tiny_yaml), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert_one_line_error(rc, captured.out, captured.err, str(out / "checkpoint.pt"), "--resume")
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before


def test_resume_continues_to_the_configured_epochs(
    trained: Path, tiny_yaml: Path, tmp_path: Path, mnist_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    shutil.copytree(trained, out)
    # already at the config's epochs: nothing to do
    assert main(["train", str(tiny_yaml), "--out", str(out), "--resume", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["epoch"] == 1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    # one more epoch
    assert main(["train", str(tiny_yaml), "--out", str(out), "--resume", "--set", "epochs=2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "resuming" in captured.err and "epoch 1" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1]) == {
        "checkpoint": str(out / "checkpoint.pt"),
        "epoch": 2,
        "step": 20,
    }
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"]) for r in records] == [(1, 10), (2, 20)]
    assert records[0] == json.loads((trained / "metrics.jsonl").read_text())
    state = load_checkpoint(out / "checkpoint.pt")
    assert (state["epoch"], state["step"], state["config"]["epochs"]) == (2, 20, 2)
    first = load_checkpoint(trained / "checkpoint.pt")
    assert not torch.equal(state["G"]["out.weight"], first["G"]["out.weight"])


# --- sample, evaluate, export --------------------------------------------------------------------


def test_sample_writes_float32_images(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "x.npy"
    assert main(["sample", str(trained / "checkpoint.pt"), "--n", "7", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "shape": [7, 784]}
    x = np.load(out)
    assert x.dtype == np.float32 and x.shape == (7, 784)
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.01
    assert sorted(os.listdir(out.parent)) == ["x.npy"]
    # reproducible from --seed
    again, other = tmp_path / "again.npy", tmp_path / "other.npy"
    assert main(["sample", str(trained / "checkpoint.pt"), "--n", "7", "--out", str(again)]) == 0
    assert main(["sample", str(trained / "checkpoint.pt"), "--n", "7", "--out", str(other), "--seed", "1"]) == 0
    assert np.array_equal(np.load(again), x) and not np.array_equal(np.load(other), x)


def test_evaluate_prints_one_json_object(trained: Path, mnist_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(trained / "checkpoint.pt"), "--n", "200"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"parzen_mean", "parzen_se", "sigma"} <= set(result)
    assert all(math.isfinite(result[k]) for k in ("parzen_mean", "parzen_se", "sigma"))
    assert result["sigma"] in SIGMAS
    assert result["parzen_se"] > 0
    assert result["samples"] == 200


def test_export_half_is_smaller_and_sampleable(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = trained / "checkpoint.pt"
    full, half = tmp_path / "g32.pt", tmp_path / "g16.pt"
    assert main(["export", str(ckpt), "--out", str(full)]) == 0
    assert main(["export", str(ckpt), "--out", str(half), "--half"]) == 0
    capsys.readouterr()
    assert half.stat().st_size < full.stat().st_size < ckpt.stat().st_size
    assert half.stat().st_size < 0.7 * full.stat().st_size
    state = load_checkpoint(half)
    assert set(state) == {"config", "epoch", "step", "G"}
    assert all(v.dtype == torch.float16 for v in state["G"].values())
    original = load_checkpoint(ckpt)["G"]
    assert all(torch.equal(load_checkpoint(full)["G"][k], original[k]) for k in original)

    paths = {name: tmp_path / f"{name}.npy" for name in ("ckpt", "full", "half")}
    for name, src in (("ckpt", ckpt), ("full", full), ("half", half)):
        assert main(["sample", str(src), "--n", "20", "--out", str(paths[name])]) == 0
    x, y, z = (np.load(paths[n]) for n in ("ckpt", "full", "half"))
    assert np.array_equal(x, y)
    assert z.dtype == np.float32 and z.shape == (20, 784)
    np.testing.assert_allclose(z, x, atol=1e-2)


# --- errors --------------------------------------------------------------------------------------


def corrupt(tmp_path: Path, trained: Path) -> Path:
    raw = (trained / "checkpoint.pt").read_bytes()
    path = tmp_path / "corrupt.pt"
    path.write_bytes(raw[: len(raw) // 3])
    return path


@pytest.mark.parametrize("case", ["unknown_set", "unknown_file_key", "missing_config", "invalid_yaml", "bad_type"])
def test_config_errors(case: str, tiny_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, extra, names = str(tiny_yaml), [], []
    if case == "unknown_set":
        extra, names = ["--set", "bogus_key=1"], ["bogus_key"]
    elif case == "unknown_file_key":
        config = str(tmp_path / "c.yaml")
        Path(config).write_text("epochs: 1\nlearning_rate: 0.1\n")
        names = ["learning_rate", config]
    elif case == "missing_config":
        config = str(tmp_path / "nope.yaml")
        names = [config]
    elif case == "invalid_yaml":
        config = str(tmp_path / "bad.yaml")
        Path(config).write_text("g_hidden: [32, 16\nepochs: 1\n")
        names = [config]
    else:
        extra, names = ["--set", "lr=fast"], ["'lr'"]
    rc = main(["train", config, "--out", str(tmp_path / "out"), "--quiet", *extra])
    captured = capsys.readouterr()
    assert_one_line_error(rc, captured.out, captured.err, *names)
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("command", ["sample", "evaluate", "export"])
@pytest.mark.parametrize("kind", ["missing", "truncated", "text", "pickle"])
def test_checkpoint_errors(
    command: str, kind: str, trained: Path, tmp_path: Path, mnist_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "missing":
        path = tmp_path / "missing.pt"
    elif kind == "truncated":
        path = corrupt(tmp_path, trained)
    elif kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("not a checkpoint\n")
    else:  # a plain pickle, e.g. an original Pylearn2 .pkl
        path = tmp_path / "model.pkl"
        path.write_bytes(pickle.dumps({"model": Path("x")}))
    out = tmp_path / "out.npy"
    args = {"sample": ["--n", "3", "--out", str(out)], "evaluate": ["--n", "10"], "export": ["--out", str(out)]}
    rc = main([command, str(path), *args[command]])
    captured = capsys.readouterr()
    assert_one_line_error(rc, captured.out, captured.err, str(path))
    assert not out.exists()


@pytest.mark.parametrize("n", ["0", "-5", "2.5", "many"])
def test_non_positive_n_is_a_usage_error(
    n: str, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["sample", str(trained / "checkpoint.pt"), "--n", n, "--out", str(tmp_path / "x.npy")])
    assert e.value.code == 2
    assert f"argument --n: expected a positive integer such as 100 or 1e4, got '{n}'" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()
