"""The command line under faults and bad input, as a user meets them: read-only, full and misnamed output folders,
two runs in one folder, kill -9 and resume, divergence, resumes that would change the run, damaged logs, and
checkpoints that cannot be used. Each ends in the right result or in one line 'error: ...' with exit code 2."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, assert_one_line_error, file_permissions_enforced, run_module

from gan_lib import __version__, cli
from gan_lib.checkpoint import load_checkpoint
from gan_lib.cli import main
from gan_lib.config import Config
from gan_lib.data import mnist
from gan_lib.files import LOCK_NAME
from gan_lib.train import Trainer

PAPER_YAML = REPO / "configs" / "mnist_paper.yaml"
TOY = {
    "dataset": "toy",
    "toy_weights": [0.5, 0.5],
    "toy_means": [-2.0, 2.0],
    "toy_stds": [0.5, 0.5],
    "toy_n": 1000,
    "noise_dim": 2,
    "g_hidden": [8],
    "d_hidden": [8],
    "d_pieces": 2,
    "batch_size": 100,
    "epochs": 1,
}


def cli_run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """`main` in this process: exit code, stdout, stderr."""
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def write_toy(folder: Path, **changes: object) -> Path:
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY | changes))
    return path


@pytest.fixture
def toy_yaml(tmp_path: Path) -> Path:
    return write_toy(tmp_path)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy run folder after one epoch: checkpoint.pt and metrics.jsonl."""
    folder = tmp_path_factory.mktemp("toy")
    out = folder / "run"
    assert main(["train", str(write_toy(folder)), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def run_copy(toy_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(toy_run, out)
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def log_epochs(folder: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


def assert_states_equal(a: object, b: object) -> None:
    """Two (nested) checkpoint states hold the same keys and bitwise equal tensors."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            assert_states_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_states_equal(x, y)
    else:
        assert a == b


# --- output folder and operating system ------------------------------------------------------------


def test_read_only_output_folder_is_refused_before_training(
    toy_yaml: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_training(cfg: Config) -> torch.Tensor:
        raise AssertionError("training data loaded: the folder was not checked first")

    monkeypatch.setattr(cli, "training_data", no_training)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with file_permissions_enforced():
            for out in (locked, locked / "run"):
                rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", out, "--quiet")
                assert_one_line_error(rc, stdout, err, f"error: cannot write {out}: Permission denied", "writable")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    ["train --out FILE", "train --out FILE/run", "sample --out DIR", "sample --out FILE/x.npy", "export --out DIR"],
)
def test_output_path_that_is_a_file_or_a_folder(
    command: str, run_copy: Path, toy_yaml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    name, _, target = command.split()
    out = Path(target.replace("FILE", str(a_file)).replace("DIR", str(tmp_path)))
    args = {
        "train": ["train", toy_yaml, "--quiet"],
        "sample": ["sample", run_copy / "checkpoint.pt", "--n", "3"],
        "export": ["export", run_copy / "checkpoint.pt"],
    }[name]
    before = snapshot(tmp_path)
    rc, stdout, err = cli_run(capsys, *args, "--out", out)
    assert_one_line_error(rc, stdout, err, f"error: cannot write {out}: ")
    assert any(hint in err for hint in ("is a file", "in the way", "it is a folder"))
    assert snapshot(tmp_path) == before and a_file.read_text() == "mine\n"


def test_classifier_output_is_checked_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_training(data_dir: object) -> None:
        raise AssertionError("MNIST loaded: the output was not checked first")

    monkeypatch.setattr(cli, "load_mnist", no_training)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    rc, stdout, err = cli_run(capsys, "classifier", "--out", a_file / "net.pt", "--quiet")
    assert_one_line_error(rc, stdout, err, f"error: cannot write {a_file}: ", "in the way")


def test_file_size_limit_while_saving_keeps_the_last_checkpoint(tmp_path: Path, capsys) -> None:
    """The epoch-2 checkpoint exceeds the file-size limit (ulimit -f): one line, and the epoch-1 checkpoint without a
    temp file beside it; the log line of the unsaved epoch goes on the next resume."""
    config = write_toy(tmp_path, g_hidden=[256, 256])
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    before = snapshot(out)
    limit = len(before["checkpoint.pt"]) // 2

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = run_module(
        "train", str(config), "--out", str(out), "--resume", "--set", "epochs=2", "--quiet",
        cwd=tmp_path, mnist_folder=tmp_path, preexec_fn=limited,
    )  # fmt: skip
    resuming, *err = result.stderr.splitlines()
    assert resuming.startswith("resuming")
    assert_one_line_error(result.returncode, result.stdout, "\n".join(err), str(out / "checkpoint.pt"), "ulimit -f")
    assert snapshot(out)["checkpoint.pt"] == before["checkpoint.pt"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(out), "--resume", "--set", "epochs=2", "--quiet"]) == 0
    assert log_epochs(out) == [1, 2] and "warning" not in capsys.readouterr().err


def test_temp_files_of_a_killed_save_are_removed(run_copy: Path, toy_yaml: Path, capsys) -> None:
    orphans = [run_copy / ".checkpoint.pt.k3j4h5.tmp", run_copy / "generators" / ".epoch0002_G.pt.x1y2.tmp"]
    orphans[1].parent.mkdir()
    for orphan in orphans:
        orphan.write_bytes(os.urandom(5000))
    rc, _, _ = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--set", "epochs=2", "--quiet")
    assert rc == 0 and not any(orphan.exists() for orphan in orphans)
    assert sorted(p.name for p in run_copy.iterdir()) == ["checkpoint.pt", "generators", "metrics.jsonl"]


@pytest.mark.parametrize("folder", ["missing", "without a checkpoint"])
def test_resume_without_a_checkpoint_is_an_error(folder: str, toy_yaml: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "tpyo"
    if folder != "missing":
        out.mkdir()
    rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", out, "--resume")
    assert_one_line_error(rc, stdout, err, str(out / "checkpoint.pt"), "nothing to resume", "drop --resume")
    assert (list(out.iterdir()) == []) if out.exists() else folder == "missing"


def test_interrupt_is_one_line_and_keeps_the_checkpoint(
    run_copy: Path, toy_yaml: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    before = snapshot(run_copy)
    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    rc, _, err = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--set", "epochs=3")
    assert rc == 130 and "Traceback" not in err
    assert err.splitlines()[-1] == "error: interrupted; a training run continues from its last checkpoint with --resume"
    assert snapshot(run_copy) == before


# --- two processes, kill -9 ---------------------------------------------------------------------


def test_a_folder_held_by_a_live_run_is_refused_and_a_stale_lock_is_not(
    run_copy: Path, toy_yaml: Path, tmp_path: Path, capsys
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_copy / LOCK_NAME)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_copy)
        for extra in (["--resume", "--set", "epochs=2"], []):
            rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--quiet", *extra)
            assert_one_line_error(rc, stdout, err, str(run_copy), f"process {holder.pid}", "in use")
        assert snapshot(run_copy) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder died without cleaning up (as kill -9 leaves it): its lock file no longer holds anything
    assert (run_copy / LOCK_NAME).read_text().strip() == str(holder.pid)
    rc, _, _ = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--set", "epochs=2", "--quiet")
    assert rc == 0 and log_epochs(run_copy) == [1, 2] and not (run_copy / LOCK_NAME).exists()


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("held", flush=True)
time.sleep(120)
"""


def start_training(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gan_lib", "train", str(config), "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_started_together_in_one_folder(tmp_path: Path) -> None:
    """One trains, the other stops at once with one line; the log has each epoch once."""
    config = write_toy(tmp_path, toy_n=50000, epochs=6)
    out = tmp_path / "run"
    runs = [start_training(config, out) for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in runs)
    (rc0, out0, err0), refused = results
    assert rc0 == 0 and json.loads(out0)["epoch"] == 6, err0
    assert_one_line_error(*refused, str(out))
    assert "in use by another gan_lib run" in refused[2] or "pass --resume" in refused[2]
    assert log_epochs(out) == [1, 2, 3, 4, 5, 6] and load_checkpoint(out / "checkpoint.pt")["epoch"] == 6


def logged_epochs(folder: Path) -> int:
    try:
        return len((folder / "metrics.jsonl").read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path: Path, capsys) -> None:
    """Each run is killed a random number of epochs in, a random moment after a log line (before, during or after
    the checkpoint that follows it), and resumed; the end is bitwise the uninterrupted run's."""
    config = write_toy(tmp_path, toy_n=5000, epochs=20, g_ema=[0.9])
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["train", str(config), "--out", str(straight), "--quiet"]) == 0
    rng, kills = random.Random(0), 0
    while True:
        resume = ["--resume"] if (killed / "checkpoint.pt").exists() else []
        run = start_training(config, killed, *resume)
        if kills < 4:
            target = logged_epochs(killed) + rng.randint(1, 3)
            while run.poll() is None and logged_epochs(killed) < target:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.1))
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                kills += 1
        rc = run.wait(timeout=300)
        assert rc in (0, -signal.SIGKILL), run.stderr.read()
        if rc == 0:
            break
    assert kills == 4
    a, b = (load_checkpoint(d / "checkpoint.pt", training=True) for d in (straight, killed))
    assert_states_equal(a, b)
    logs = [[{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in (d / "metrics.jsonl").open()]
            for d in (straight, killed)]  # fmt: skip
    assert logs[0] == logs[1] and len(logs[0]) == 20
    assert sorted(p.name for p in killed.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]


# --- divergence ----------------------------------------------------------------------------------


def test_divergence_stops_the_run_without_writing_non_finite_numbers(toy_yaml: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    rc, stdout, err = cli_run(
        capsys, "train", toy_yaml, "--out", out, "--quiet", "--set", "lr=1e4", "--set", "epochs=3"
    )
    assert_one_line_error(rc, stdout, err, "diverged in epoch 1", "no checkpoint was written", "lower learning rate")
    assert sorted(p.name for p in out.iterdir()) == []


def test_divergence_keeps_the_last_finite_checkpoint(run_copy: Path, toy_yaml: Path, capsys) -> None:
    state = load_checkpoint(run_copy / "checkpoint.pt", training=True)
    for opt in ("opt_g", "opt_d"):  # finite, but the next steps overflow
        for buffers in state[opt]["state"].values():
            buffers["buf"].fill_(1e38)
    torch.save(state, run_copy / "checkpoint.pt")
    before = snapshot(run_copy)
    rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--set", "epochs=3", "--quiet")
    assert_one_line_error(rc, stdout, err.split("\n", 1)[1], "diverged in epoch 2", "epoch 1", str(run_copy))
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("command", ["sample", "evaluate", "export", "train --resume"])
def test_non_finite_weights_are_refused(
    command: str, tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path, mnist_folder: Path, capsys
) -> None:
    trainer = Trainer(tiny_mnist_config, mnist_subset)
    with torch.no_grad():
        trainer.G.out.weight[3, 5] = float("nan")
    path = tmp_path / "run" / "checkpoint.pt"
    trainer.save(path)
    args = {
        "sample": ["sample", path, "--n", "4", "--out", tmp_path / "x.npy"],
        "evaluate": ["evaluate", path, "--n", "20", "--data-dir", mnist_folder],
        "export": ["export", path, "--out", tmp_path / "x.pt"],
        "train --resume": ["train", PAPER_YAML, "--out", path.parent, "--resume"],
    }[command]
    rc, stdout, err = cli_run(capsys, *args)
    assert_one_line_error(rc, stdout, err, str(path), "non-finite", "diverged")
    assert sorted(os.listdir(tmp_path)) == ["run"]


# --- resume --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, key, stored, requested",
    [
        ("lr=0.01", "lr", "0.1", "0.01"),
        ("seed=1", "seed", "0", "1"),
        ("batch_size=50", "batch_size", "100", "50"),
        ("optimizer=adam", "optimizer", '"sgd"', '"adam"'),
        ("g_hidden=[16]", "g_hidden", "[8]", "[16]"),
    ],
)
def test_resume_refuses_a_change_of_the_run(
    change: str, key: str, stored: str, requested: str, run_copy: Path, toy_yaml: Path, capsys
) -> None:
    before = snapshot(run_copy)
    rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--set", change)
    assert_one_line_error(rc, stdout, err, f"'{key}' (stored {stored}, requested {requested})", f"--set {key}={stored}")
    assert snapshot(run_copy) == before


def test_resume_without_an_earlier_override_is_refused(tmp_path: Path, toy_yaml: Path, capsys) -> None:
    out = tmp_path / "run"
    assert cli_run(capsys, "train", toy_yaml, "--out", out, "--quiet", "--set", "lr=0.01")[0] == 0
    rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", out, "--resume", "--set", "epochs=2")
    assert_one_line_error(rc, stdout, err, "'lr' (stored 0.01, requested 0.1)", "--set lr=0.01")
    rc, _, _ = cli_run(capsys, "train", toy_yaml, "--out", out, "--resume", "--set", "epochs=2", "--set", "lr=0.01")
    assert rc == 0 and load_checkpoint(out / "checkpoint.pt")["config"]["lr"] == 0.01


def test_resume_may_change_the_budget_the_evaluation_and_the_averages(
    run_copy: Path, toy_yaml: Path, tmp_path: Path, capsys
) -> None:
    changes = ["epochs=3", "eval_every=2", "eval_samples=500", f"data_dir={tmp_path}", "g_ema=[0.9]"]
    rc, stdout, err = cli_run(
        capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--quiet", *(x for c in changes for x in ("--set", c))
    )
    assert rc == 0 and json.loads(stdout)["epoch"] == 3
    assert err.splitlines() == [
        f"resuming {run_copy / 'checkpoint.pt'} at epoch 1",
        "warning: g_ema: the average(s) with decay [0.9] start at epoch 1, not at the start of the run",
    ]
    state = load_checkpoint(run_copy / "checkpoint.pt", training=True)
    assert {k: state["config"][k] for k in ("epochs", "eval_every", "eval_samples", "data_dir", "g_ema")} == {
        "epochs": 3,
        "eval_every": 2,
        "eval_samples": 500,
        "data_dir": str(tmp_path),
        "g_ema": [0.9],
    }
    assert state["G_ema"]["0.9"]["n_averaged"] == 20 and log_epochs(run_copy) == [1, 2, 3]


@pytest.mark.parametrize("damage", ["\n", '{"epoch": 2, "step": 2', "\x00\x01 garbage"], ids=["blank", "half", "junk"])
def test_a_damaged_log_is_repaired_on_resume(damage: str, run_copy: Path, toy_yaml: Path, capsys) -> None:
    first = (run_copy / "metrics.jsonl").read_text()
    with open(run_copy / "metrics.jsonl", "a") as f:
        f.write(damage)
    rc, _, err = cli_run(capsys, "train", toy_yaml, "--out", run_copy, "--resume", "--set", "epochs=2", "--quiet")
    assert rc == 0
    assert f"warning: {run_copy / 'metrics.jsonl'}: dropped damaged line(s) [2] of 2" in err
    lines = (run_copy / "metrics.jsonl").read_text().splitlines(keepends=True)
    assert lines[0] == first and json.loads(lines[1])["epoch"] == 2 and len(lines) == 2


def test_a_checkpoint_of_the_previous_code_resumes_exactly(
    mnist_splits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist_folder: Path, capsys
) -> None:
    """tests/data/checkpoint_7968cf2.pt: one epoch on train[:1000] by the code before run locks and resume rules
    (commit 7968cf2), in the format of the long Table 1 run. It resumes with that run's command, and exactly as a
    checkpoint written now would."""
    old = REPO / "tests" / "data" / "checkpoint_7968cf2.pt"
    data = torch.from_numpy(mnist_splits.train_x[:1000].copy())
    state = load_checkpoint(old, training=True)
    assert_states_equal(Trainer.from_state(state, data).state_dict(), state)  # nothing lost or changed on loading
    monkeypatch.setenv("GAN_LIB_MNIST_DIR", str(mnist_folder))
    monkeypatch.setattr(cli, "training_data", lambda cfg: data)
    as_old, as_new = tmp_path / "old", tmp_path / "new"
    as_old.mkdir()
    shutil.copy(old, as_old / "checkpoint.pt")
    Trainer.from_state(state, data).save(as_new / "checkpoint.pt")
    tiny = ["g_hidden=[4]", "d_hidden=[4]", "d_pieces=2", "eval_every=10", "epochs=2", "g_ema=[0.9, 0.99]"]
    for out in (as_old, as_new):
        args = ["train", PAPER_YAML, "--out", out, "--resume", "--quiet", *(x for s in tiny for x in ("--set", s))]
        assert cli_run(capsys, *args)[0] == 0
    a, b = (load_checkpoint(d / "checkpoint.pt", training=True) for d in (as_old, as_new))
    assert a["epoch"] == 2 and a["G_ema"]["0.99"]["n_averaged"] == 20
    assert_states_equal(a, b)


# --- unusable input ------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith(f"gan_lib {__version__} (torch ")


@pytest.mark.parametrize(
    "override, names",
    [
        ("lr=[0.1", ["'lr=[0.1'", "not valid YAML"]),
        ("ephocs=2", ["ephocs", "did you mean 'epochs'"]),
        ("lr=.inf", ["'lr'", "finite"]),
        ("momentum=5", ["'momentum'", "[0, 1)"]),
        ("epochs=0", ["'epochs'", "> 0"]),
        ("toy_weights=[0.5, 0.6]", ["'toy_weights'", "sum to 1"]),
        ("batch_size=5000", ["'batch_size'", "fewer than one step"]),
    ],
)
def test_config_errors_name_the_key(override: str, names: list[str], toy_yaml: Path, tmp_path: Path, capsys) -> None:
    rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", tmp_path / "run", "--set", override)
    assert_one_line_error(rc, stdout, err, *names)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_too_many_samples_for_the_memory(run_copy: Path, tmp_path: Path, capsys) -> None:
    rc, stdout, err = cli_run(capsys, "sample", run_copy / "checkpoint.pt", "--n", "1e11", "--out", tmp_path / "x.npy")
    assert_one_line_error(rc, stdout, err, "--n 100000000000", "GB", "ask for fewer")


def test_evaluate_refuses_a_toy_generator(run_copy: Path, capsys) -> None:
    rc, stdout, err = cli_run(capsys, "evaluate", run_copy / "checkpoint.pt", "--n", "10")
    assert_one_line_error(rc, stdout, err, str(run_copy / "checkpoint.pt"), "'toy'", "MNIST generators")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("command", ["train", "sample", "evaluate"])
def test_device_cuda_without_a_gpu(command: str, run_copy: Path, toy_yaml: Path, tmp_path: Path, capsys) -> None:
    checkpoint = run_copy / "checkpoint.pt"
    args = {
        "train": ["train", toy_yaml, "--out", tmp_path / "new"],
        "sample": ["sample", checkpoint, "--n", "2", "--out", tmp_path / "x.npy"],
        "evaluate": ["evaluate", checkpoint, "--n", "2"],
    }[command]
    rc, stdout, err = cli_run(capsys, *args, "--device", "cuda")
    assert_one_line_error(rc, stdout, err, "--device cuda", "no CUDA GPU", "--device cpu")


@pytest.mark.parametrize("command", ["sample", "evaluate", "export"])
@pytest.mark.parametrize(
    "damage, names",
    [
        ({"G": {}}, ["no generator weights"]),
        ({"config": "lr=0.1"}, ["'config' is not a mapping"]),
        ({"config": {"lr": -1.0}}, ["holds an invalid config", "'lr'"]),
    ],
)
def test_checkpoint_with_an_unusable_generator_or_config(
    command: str, damage: dict, names: list[str], run_copy: Path, tmp_path: Path, capsys
) -> None:
    state = load_checkpoint(run_copy / "checkpoint.pt")
    path = tmp_path / "damaged.pt"
    torch.save({k: state[k] for k in ("config", "epoch", "step", "G")} | damage, path)
    out = {"sample": ["--n", "2", "--out", tmp_path / "x.npy"], "evaluate": [], "export": ["--out", tmp_path / "x"]}
    rc, stdout, err = cli_run(capsys, command, path, *out[command])
    assert_one_line_error(rc, stdout, err, str(path), *names)


def test_unreadable_mnist_folder(mnist_folder: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in mnist_folder.iterdir():
        (folder / f.name).symlink_to(f)
    folder.chmod(0)
    config = tmp_path / "c.yaml"
    config.write_text(f"data_dir: {folder}\n")
    try:
        with file_permissions_enforced():
            rc, stdout, err = cli_run(capsys, "train", config, "--out", tmp_path / "run")
    finally:
        folder.chmod(0o755)
    assert_one_line_error(rc, stdout, err, str(folder), "Permission denied")


def test_unreadable_config_file(toy_yaml: Path, tmp_path: Path, capsys) -> None:
    toy_yaml.chmod(0)
    with file_permissions_enforced():
        rc, stdout, err = cli_run(capsys, "train", toy_yaml, "--out", tmp_path / "run")
    assert_one_line_error(rc, stdout, err, str(toy_yaml), "Permission denied")


@pytest.mark.parametrize("epoch", ["abc", 1.5, -1, True])
@pytest.mark.parametrize("command", ["sample", "resume"])
def test_a_checkpoint_whose_epoch_is_not_a_whole_number(
    command: str, epoch: object, run_copy: Path, toy_yaml: Path, tmp_path: Path, capsys
) -> None:
    state = load_checkpoint(run_copy / "checkpoint.pt", training=True)
    torch.save(state | {"epoch": epoch}, run_copy / "checkpoint.pt")
    args = {
        "sample": ["sample", run_copy / "checkpoint.pt", "--n", "2", "--out", tmp_path / "x.npy"],
        "resume": ["train", toy_yaml, "--out", run_copy, "--resume", "--set", "epochs=2", "--quiet"],
    }[command]
    rc, stdout, err = cli_run(capsys, *args)
    assert_one_line_error(rc, stdout, err, str(run_copy / "checkpoint.pt"), f"'epoch' is {epoch!r}", "whole number")


def test_sample_past_the_file_size_limit_names_it(run_copy: Path, tmp_path: Path) -> None:
    """numpy's own writer said only 'N requested and M written'; the error names the file and the limit."""

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))

    out = tmp_path / "samples" / "x.npy"
    result = run_module(
        "sample", str(run_copy / "checkpoint.pt"), "--n", "100000", "--out", str(out),
        cwd=tmp_path, mnist_folder=tmp_path, preexec_fn=limited,
    )  # fmt: skip
    assert_one_line_error(result.returncode, result.stdout, result.stderr, f"cannot write {out}", "ulimit -f")
    assert list(out.parent.iterdir()) == []  # no half file, no temp file


def test_export_over_its_own_input_is_refused(run_copy: Path, capsys) -> None:
    before = snapshot(run_copy)
    checkpoint = run_copy / "checkpoint.pt"
    rc, stdout, err = cli_run(capsys, "export", checkpoint, "--out", run_copy / "." / "checkpoint.pt", "--half")
    assert_one_line_error(rc, stdout, err, "is the checkpoint being exported", "choose another --out")
    assert snapshot(run_copy) == before


def test_ablate_refuses_a_folder_held_by_another_run(toy_yaml: Path, tmp_path: Path, capsys) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"base": toy_yaml.name, "epochs": 1, "seeds": [0], "variants": {"recipe": {}}}))
    out = tmp_path / "ablation"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out / LOCK_NAME)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        rc, stdout, err = cli_run(capsys, "ablate", plan, "--out", out, "--quiet")
    finally:
        holder.kill()
        holder.wait()
    assert_one_line_error(rc, stdout, err, str(out), f"process {holder.pid}", "in use")
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_unreachable_mirrors_are_a_download_error_not_a_write_error(
    monkeypatch: pytest.MonkeyPatch, toy_yaml: Path, tmp_path: Path, capsys
) -> None:
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/",))  # the discard port: refused at once
    config = tmp_path / "mnist.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "empty"), "g_hidden": [8], "d_hidden": [8]}))
    rc, stdout, err = cli_run(capsys, "train", config, "--out", tmp_path / "run")
    assert_one_line_error(rc, stdout, err, str(tmp_path / "empty"), "http://127.0.0.1:9/", "cannot download it (")
    assert "cannot write" not in err
