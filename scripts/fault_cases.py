"""Hostile but fair uses of the command line, each checked: about a hundred cases of bad data, configs, checkpoints,
kills and resumes, divergence, two processes at once, operating-system errors and command-line slips.

Every case runs the real CLI (``python -m gan_lib ...`` in subprocesses) in its own temp folder, on a tiny MNIST
config, and states what it expects: a "clear error" (exit code 2, the last stderr line starts with ``error:`` (or
argparse's ``<prog>: error:``), no traceback, and it names the file, key or option at fault) or a "correct" result
(checked: a resume bitwise equal to an uninterrupted run, loadable files, the right shapes). Anything else is a
failure: "traceback" (one reached the user), "wrong result" or "data lost" (a good file damaged or gone).

    OMP_NUM_THREADS=1 nice -n 19 python scripts/fault_cases.py --jobs 2          # all cases, a Markdown table
    python scripts/fault_cases.py --only 'version|--n abc'                        # the cases whose title matches

Permissions: root reads and writes anything, so the cases about unreadable files run the CLI with root's
file-permission capabilities dropped (setpriv); the full-disk cases mount a small tmpfs (root only, else ulimit -f).
Exit code: 0 if every case ran as expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = Path(os.environ.get("GAN_LIB_MNIST_DIR") or REPO.parent / "shared/data/mnist")
PAPER = REPO / "configs" / "mnist_paper.yaml"
TINY = {"epochs": 1, "g_hidden": [32], "d_hidden": [32], "d_pieces": 2, "batch_size": 500}
TOY = {"dataset": "toy", "toy_weights": [0.5, 0.5], "toy_means": [-2.0, 2.0], "toy_stds": [0.5, 0.5], "toy_n": 1000,
       "noise_dim": 2, "g_hidden": [8], "d_hidden": [8], "d_pieces": 2, "batch_size": 100, "epochs": 1}
IMAGES = "train-images-idx3-ubyte.gz"
LABELS = "train-labels-idx1-ubyte.gz"
DROP_FILE_CAPS = ["setpriv", "--inh-caps=-dac_override,-dac_read_search,-fowner",
                  "--bounding-set=-dac_override,-dac_read_search,-fowner"]

CLEAR, CORRECT = "clear error", "correct"
TRACEBACK, WRONG, LOST, HARNESS = "traceback", "wrong result", "data lost", "harness error"
ERROR_LINE = re.compile(r"^(python -m gan_lib( \w+)?: )?error: ")


class Wrong(Exception):
    """The command did not do what the case expects."""


class Lost(Exception):
    """A good file was damaged or removed."""


def check(ok: object, note: str) -> None:
    if not ok:
        raise Wrong(note)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def last(self) -> str:
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


# ---------------------------------------------------------------- shared runs, made once

class Fixtures:
    """Runs that many cases start from, each made once (thread-safe) under `root`."""

    def __init__(self, root: Path) -> None:
        self.root, self._lock, self._made = root, threading.Lock(), {}

    def get(self, name: str, make: Callable[[Trial], Path]) -> Path:
        with self._lock:
            if name not in self._made:
                t = Trial(self.root / name, self)
                self._made[name] = make(t)
                check(not t.tracebacks, f"fixture {name}: {t.tracebacks}")
            return self._made[name]

    def run(self, epochs: int = 1) -> Path:
        """A tiny MNIST run folder trained straight for `epochs` epochs."""
        def make(t: Trial) -> Path:
            r = t.train(t.dir / "run", epochs=epochs)
            check(r.rc == 0, f"fixture run{epochs}: {r.last}")
            return t.dir / "run"
        return self.get(f"run{epochs}", make)

    def toy(self) -> Path:
        def make(t: Trial) -> Path:
            r = t.train(t.dir / "run", config=t.write_yaml("toy.yaml", TOY), tiny=False)
            check(r.rc == 0, f"fixture toy: {r.last}")
            return t.dir / "run" / "checkpoint.pt"
        return self.get("toy", make)


# ---------------------------------------------------------------- one case's folder and commands

class Trial:
    """A case's temp folder, the CLI run from it, and small helpers."""

    def __init__(self, folder: Path, fixtures: Fixtures) -> None:
        self.dir, self.fx, self.tracebacks, self.mounts = folder, fixtures, [], []
        folder.mkdir(parents=True)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO), "GAN_LIB_MNIST_DIR": str(MNIST_DIR), "OMP_NUM_THREADS": "1",
                "XDG_CACHE_HOME": str(self.dir / "cache"),
                "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",  # offline, at once
                **extra}

    def command(self, args: Sequence[object], fsize_kb: int | None, unprivileged: bool) -> list[str]:
        cmd = [sys.executable, "-m", "gan_lib", *map(str, args)]
        if fsize_kb is not None:
            cmd = ["bash", "-c", f'ulimit -f {fsize_kb}; exec "$@"', "ulimit", *cmd]
        return DROP_FILE_CAPS + cmd if unprivileged else cmd

    def cli(self, *args: object, env: dict[str, str] | None = None, fsize_kb: int | None = None,
            unprivileged: bool = False, cwd: Path | None = None, timeout: float = 900) -> Result:
        p = subprocess.run(self.command(args, fsize_kb, unprivileged), cwd=cwd or self.dir, env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout, check=False)
        return self.record(Result(p.returncode, p.stdout, p.stderr))

    def start(self, *args: object, unprivileged: bool = False) -> subprocess.Popen:
        return subprocess.Popen(self.command(args, None, unprivileged), cwd=self.dir, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, p: subprocess.Popen, timeout: float = 900) -> Result:
        out, err = p.communicate(timeout=timeout)
        return self.record(Result(p.returncode, out, err))

    def record(self, r: Result) -> Result:
        if "Traceback" in r.err:
            self.tracebacks.append(r.err.strip().splitlines()[-1])
        return r

    def train_args(self, out: Path | None, config: Path = PAPER, tiny: bool = True, resume: bool = False,
                   **sets: object) -> list[object]:
        settings = (TINY if tiny else {}) | sets
        args: list[object] = ["train", config, "--quiet"]
        args += [a for k, v in settings.items() for a in ("--set", f"{k}={json.dumps(v)}")]
        return args + (["--out", out] if out else []) + (["--resume"] if resume else [])

    def train(self, out: Path | None, config: Path = PAPER, tiny: bool = True, resume: bool = False,
              cli: dict | None = None, **sets: object) -> Result:
        return self.cli(*self.train_args(out, config, tiny, resume, **sets), **(cli or {}))

    def copy_run(self, epochs: int = 1) -> Path:
        return Path(shutil.copytree(self.fx.run(epochs), self.dir / "run"))

    def checkpoint(self) -> Path:
        return self.copy_run() / "checkpoint.pt"

    def file(self, name: str, data: bytes | None, mode: int | None = None) -> Path:
        """A file holding `data` (a folder if None) in the trial's folder, with permissions `mode` if given."""
        path = self.dir / name
        path.mkdir() if data is None else path.write_bytes(data)
        if mode is not None:
            path.chmod(mode)
        return path

    def write_yaml(self, name: str, obj: object) -> Path:
        path = self.dir / name
        path.write_text(yaml.safe_dump(obj))
        return path

    def write_state(self, change: Callable[[dict], object], name: str = "bad.pt") -> Path:
        """A copy of the 1-epoch checkpoint with `change` applied to its dict."""
        state = torch.load(self.fx.run(1) / "checkpoint.pt", weights_only=True)
        change(state)
        torch.save(state, self.dir / name)
        return self.dir / name

    def mnist_copy(self) -> Path:
        return Path(shutil.copytree(MNIST_DIR, self.dir / "mnist"))

    def tmpfs(self, name: str, size: str = "200k", read_only: bool = False) -> Path:
        path = self.dir / name
        path.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True, capture_output=True)
        self.mounts.append(path)
        return path

    def close(self) -> None:
        for path in self.mounts:
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


# ---------------------------------------------------------------- judging

def clear_error(r: Result, *names: object) -> str:
    """CLEAR if `r` is one clear error naming each of `names`; otherwise raises Wrong."""
    check(r.rc == 2, f"exit code {r.rc}, not 2: {r.last[:150]}")
    check(ERROR_LINE.match(r.last), f"last line is not 'error: ...': {r.last[:150]}")
    missing = [str(n) for n in names if str(n) not in r.last]
    check(not missing, f"does not name {missing}: {r.last[:150]}")
    return CLEAR


def succeeded(r: Result) -> None:
    check(r.rc == 0, f"exit code {r.rc}: {r.last[:150]}")


def unchanged(path: Path, before: bytes) -> None:
    if not path.exists() or path.read_bytes() != before:
        raise Lost(f"{path.name} changed or went")


def load_state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def finite(state: dict) -> bool:
    tensors = [v for part in ("G", "D") for v in state[part].values() if v.is_floating_point()]
    return all(bool(v.isfinite().all()) for v in tensors)


def log_records(folder: Path) -> list[dict]:
    """The log's records (every line must be strict JSON: no NaN or Infinity), without the wall-clock times."""
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line, parse_constant=_not_json) for line in lines]
    return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


def _not_json(constant: str) -> None:
    raise Wrong(f"the log holds {constant}, which is not JSON")


def same_run(a: Path, b: Path) -> None:
    """Run folders a and b hold bitwise equal checkpoints and equal logs."""
    check(log_records(a) == log_records(b), "the logs differ")
    check(_equal(load_state(a / "checkpoint.pt"), load_state(b / "checkpoint.pt")), "the checkpoints differ")


def _equal(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b


def wait_for(condition: Callable[[], bool], p: subprocess.Popen | None = None, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not condition():
        check(p is None or p.poll() is None, "the process ended before the moment to act")
        check(time.monotonic() < end, "timed out waiting")
        time.sleep(0.05)


def log_lines(folder: Path) -> int:
    try:
        return len((folder / "metrics.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


# ---------------------------------------------------------------- the registry

@dataclass
class Case:
    number: int
    category: str
    title: str
    expected: str
    body: Callable[[Trial], str]


CASES: list[Case] = []


def case(category: str, title: str, expected: str = CLEAR) -> Callable:
    def register(body: Callable[[Trial], str | None]) -> Callable:
        CASES.append(Case(len(CASES) + 1, category, title, expected, lambda t: body(t) or CORRECT))
        return body
    return register


def refuses(category: str, title: str, args: Callable[[Trial], Sequence[object]], *names: object,
            **cli: object) -> None:
    """A case: the command `args(t)` (run with `cli` options) must end in one clear error naming `names`; a name
    that is a callable is called with the trial (for paths made there)."""
    def body(t: Trial) -> str:
        argv = args(t)
        return clear_error(t.cli(*argv, **cli), *(n(t) if callable(n) else n for n in names))
    case(category, title)(body)


def train_refuses(category: str, title: str, *names: object, config: Path = PAPER, **sets: object) -> None:
    """A case: training the tiny config with `sets` must end in a clear error naming `names`."""
    refuses(category, title, lambda t: t.train_args(t.dir / "out", config, **sets), *names)


def damaged(t: Trial, damage: Callable[[Path], object]) -> Path:
    """A copy of the MNIST folder after `damage(folder)`."""
    folder = t.mnist_copy()
    damage(folder)
    return folder


def damaged_mnist(damage: Callable[[Path], object]) -> Callable[[Trial], list[object]]:
    """Training args on a copy of the MNIST folder after `damage(folder)`."""
    return lambda t: t.train_args(t.dir / "out", data_dir=str(damaged(t, damage)))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _to_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _valid_gzip_wrong_header(path: Path) -> None:
    path.write_bytes(gzip.compress(b"\0" * 64))


# --- bad and missing data
D = "data"
refuses(D, "a training-images file missing (offline)", damaged_mnist(lambda f: (f / IMAGES).unlink()), IMAGES)
refuses(D, "training images truncated", damaged_mnist(lambda f: _truncate(f / IMAGES)), IMAGES)
refuses(D, "one flipped byte in the labels", damaged_mnist(lambda f: _flip(f / LABELS)), LABELS)
refuses(D, "the wrong file under a right name",
        damaged_mnist(lambda f: shutil.copy(f / "t10k-labels-idx1-ubyte.gz", f / LABELS)), LABELS)
refuses(D, "a 0-byte images file", damaged_mnist(lambda f: (f / IMAGES).write_bytes(b"")), IMAGES)
refuses(D, "a folder in place of the images file", damaged_mnist(lambda f: _to_folder(f / IMAGES)), IMAGES)
refuses(D, "data_dir names a file, not a folder", lambda t: t.train_args(t.dir / "out", data_dir=str(PAPER)),
        "mnist_paper.yaml")
refuses(D, "an unreadable images file (no root rights)",
        damaged_mnist(lambda f: (f / IMAGES).chmod(0)), IMAGES, unprivileged=True)
refuses(D, "an unreadable MNIST folder (no root rights)",
        damaged_mnist(lambda f: f.chmod(0)), "mnist", unprivileged=True)


@case(D, "$GAN_LIB_MNIST_DIR names a missing folder (offline)")
def _(t: Trial) -> str:
    return clear_error(t.train(t.dir / "out", cli={"env": t.env(GAN_LIB_MNIST_DIR=str(t.dir / "nowhere"))}),
                       "nowhere", "download")


@case(D, "no $GAN_LIB_MNIST_DIR, an empty cache, offline")
def _(t: Trial) -> str:
    env = {k: v for k, v in t.env().items() if k != "GAN_LIB_MNIST_DIR"}
    return clear_error(t.train(t.dir / "out", cli={"env": env}), "cache", "download")


@case(D, "the download mirrors unreachable: the error says so, not 'cannot write'")
def _(t: Trial) -> str:
    env = {k: v for k, v in t.env().items() if k != "GAN_LIB_MNIST_DIR"}
    r = t.train(t.dir / "out", cli={"env": env})
    check("cannot write" not in r.last, f"blames writing: {r.last[:200]}")
    return clear_error(r, "cannot download it")


refuses(D, "evaluate --data-dir a missing folder (offline)",
        lambda t: ["evaluate", t.checkpoint(), "--n", 500, "--data-dir", t.dir / "none"], "none")
refuses(D, "evaluate --data-dir a damaged folder",
        lambda t: ["evaluate", t.checkpoint(), "--n", 500, "--data-dir", damaged(t, lambda f: _flip(f / LABELS))],
        LABELS)
refuses(D, "classifier --data-dir a damaged folder",
        lambda t: ["classifier", "--epochs", 1, "--out", t.dir / "c.pt", "--data-dir",
                   damaged(t, lambda f: _truncate(f / IMAGES))], IMAGES)
refuses(D, "images with a valid gzip but no IDX header", damaged_mnist(lambda f: _valid_gzip_wrong_header(f / IMAGES)),
        IMAGES)

# --- configs and --set
C = "config"
train_refuses(C, "a misspelt key (--set lrr=0.1): did you mean", "lrr", "lr", lrr=0.1)
refuses(C, "malformed YAML in --set (lr=[0.1)", lambda t: ["train", PAPER, "--set", "lr=[0.1", "--out", t.dir / "o"],
        "lr=[0.1")
refuses(C, "--set without '=' (--set lr)", lambda t: ["train", PAPER, "--set", "lr", "--out", t.dir / "o"], "lr")
train_refuses(C, "lr=.inf", "lr", lr=math.inf)
refuses(C, "lr=.nan (YAML)", lambda t: ["train", PAPER, "--set", "lr=.nan", "--out", t.dir / "o"], "lr")
train_refuses(C, "momentum=5", "momentum", momentum=5)
train_refuses(C, "momentum=1 (never decays)", "momentum", momentum=1.0)
train_refuses(C, "epochs=0", "epochs", epochs=0)
train_refuses(C, "epochs=true", "epochs", epochs=True)
train_refuses(C, "epochs=1.5", "epochs", epochs=1.5)
train_refuses(C, "batch_size larger than the data (10^7)", "batch_size", batch_size=10**7)
train_refuses(C, "an empty hidden-layer list (g_hidden=[])", "g_hidden", g_hidden=[])
train_refuses(C, "a zero-width layer (d_hidden=[0])", "d_hidden", d_hidden=[0])
train_refuses(C, "k=2 with the simultaneous update", "k", k=2)
train_refuses(C, "g_ema=[1.5]", "g_ema", g_ema=[1.5])
train_refuses(C, "g_ema=0.999 (not a list)", "g_ema", g_ema=0.999)
train_refuses(C, "noise_dim=-3", "noise_dim", noise_dim=-3)
train_refuses(C, "noise_dim=2.5", "noise_dim", noise_dim=2.5)
train_refuses(C, "noise=gaussian (not a choice)", "noise", noise="gaussian")
train_refuses(C, "d_keep_input=0", "d_keep_input", d_keep_input=0)
train_refuses(C, "lr_decay=0.5 (a growing rate)", "lr_decay", lr_decay=0.5)
train_refuses(C, "toy weights that do not sum to 1", "toy_weights", dataset="toy", toy_weights=[0.5, 0.6],
              toy_means=[0.0, 1.0], toy_stds=[1.0, 1.0])
train_refuses(C, "a negative toy standard deviation", "toy_stds", dataset="toy", toy_stds=[-1.0])
refuses(C, "a config file that does not exist", lambda t: ["train", t.dir / "nope.yaml"], "nope.yaml")
refuses(C, "a binary config file", lambda t: ["train", Path(shutil.copy(MNIST_DIR / LABELS, t.dir / "b.yaml"))],
        "b.yaml")
refuses(C, "a config file that is not valid YAML",
        lambda t: ["train", t.file("c.yaml", b"lr: [0.1\n")], "c.yaml")
refuses(C, "a config file holding a list", lambda t: ["train", t.write_yaml("l.yaml", [1, 2])], "l.yaml")
refuses(C, "a config file with an unknown key", lambda t: ["train", t.write_yaml("u.yaml", {"learning_rate": 0.1})],
        "learning_rate")
refuses(C, "a config file that is a folder", lambda t: ["train", t.dir], lambda t: t.dir)


@case(C, "an unreadable config file (no root rights)")
def _(t: Trial) -> str:
    path = Path(shutil.copy(PAPER, t.dir / "p.yaml"))
    path.chmod(0)
    return clear_error(t.cli("train", path, "--out", t.dir / "o", unprivileged=True), "p.yaml")


@case(C, "an empty config file: the defaults (the paper's recipe)", CORRECT)
def _(t: Trial) -> None:
    (t.dir / "empty.yaml").write_text("")
    succeeded(t.train(t.dir / "out", config=t.dir / "empty.yaml"))
    cfg = load_state(t.dir / "out" / "checkpoint.pt")["config"]
    check(cfg["lr"] == 0.1 and cfg["momentum"] == 0.5 and cfg["g_hidden"] == [32], f"stored config {cfg}")


@case(C, "lr=1e-3 read as the float 0.001 (YAML 1.2)", CORRECT)
def _(t: Trial) -> None:
    succeeded(t.cli(*t.train_args(t.dir / "out"), "--set", "lr=1e-3"))
    lr = load_state(t.dir / "out" / "checkpoint.pt")["config"]["lr"]
    check(lr == 0.001 and isinstance(lr, float), f"stored lr {lr!r}")


@case(C, "Parzen every epoch (eval_every=1)", CORRECT)
def _(t: Trial) -> None:
    succeeded(t.train(t.dir / "out", epochs=2, eval_every=1, eval_samples=500))
    records = log_records(t.dir / "out")
    check([r["epoch"] for r in records] == [1, 2], "log epochs")
    check(all(math.isfinite(r["parzen_mean"]) and math.isfinite(r["parzen_valid"]) for r in records), "scores")
    check(len(list((t.dir / "out" / "generators").glob("epoch*_G.pt"))) == 2, "kept generators")


# --- checkpoints
K = "checkpoint"
refuses(K, "sample a checkpoint that does not exist", lambda t: ["sample", t.dir / "no.pt", "--n", 10, "--out",
                                                                  t.dir / "s.npy"], "no.pt")
refuses(K, "sample a folder as the checkpoint", lambda t: ["sample", t.dir, "--n", 10, "--out", t.dir / "s.npy"],
        lambda t: t.dir)
refuses(K, "sample a truncated checkpoint",
        lambda t: ["sample", t.file("t.pt", t.checkpoint().read_bytes()[:5000]), "--n", 10, "--out", t.dir / "s.npy"],
        "t.pt")
refuses(K, "sample a 0-byte checkpoint",
        lambda t: ["sample", t.file("z.pt", b""), "--n", 10, "--out", t.dir / "s.npy"], "z.pt")
refuses(K, "sample a YAML file as the checkpoint", lambda t: ["sample", PAPER, "--n", 10, "--out", t.dir / "s.npy"],
        "mnist_paper.yaml")


@case(K, "sample an arbitrary pickle (code torch would run)")
def _(t: Trial) -> str:
    torch.save({"config": {}, "G": Counter("abc")}, t.dir / "p.pt")
    return clear_error(t.cli("sample", t.dir / "p.pt", "--n", 10, "--out", t.dir / "s.npy"), "p.pt")


def state_refused(title: str, change: Callable[[dict], object], command: str = "sample", *names: str) -> None:
    """A case: `command` on a copy of the 1-epoch checkpoint changed by `change` ends in a clear error."""
    def args(t: Trial) -> list[object]:
        path = t.write_state(change)
        tail = {"sample": ["--n", 10, "--out", t.dir / "s.npy"], "evaluate": ["--n", 500],
                "export": ["--out", t.dir / "e.pt"]}[command]
        return [command, path, *tail]
    refuses(K, title, args, "bad.pt", *names)


state_refused("a checkpoint without G", lambda s: s.pop("G"))
state_refused("a checkpoint whose G is empty", lambda s: s["G"].clear())
state_refused("NaN in G (sample)", lambda s: s["G"]["out.weight"].fill_(float("nan")))
state_refused("NaN in G (evaluate)", lambda s: s["G"]["out.weight"].fill_(float("nan")), "evaluate")
state_refused("NaN in G (export)", lambda s: s["G"]["out.weight"].fill_(float("nan")), "export")
state_refused("G weights of the wrong shapes", lambda s: s["G"].update({k: v[:5] for k, v in s["G"].items()}))
state_refused("an invalid stored config (lr=-1)", lambda s: s["config"].update(lr=-1.0), "sample", "lr")
state_refused("a stored config that is not a mapping", lambda s: s.update(config=[1, 2]))
state_refused("a non-numeric epoch ('abc')", lambda s: s.update(epoch="abc"), "sample", "epoch")
state_refused("a fractional epoch (1.5)", lambda s: s.update(epoch=1.5), "sample", "epoch")
state_refused("a non-numeric epoch (export)", lambda s: s.update(epoch="abc"), "export", "epoch")
refuses(K, "evaluate a toy checkpoint", lambda t: ["evaluate", t.fx.toy(), "--n", 500], "toy")
refuses(K, "sample --out a folder", lambda t: ["sample", t.checkpoint(), "--n", 10, "--out", t.dir], lambda t: t.dir)
refuses(K, "sample --out under a file",
        lambda t: ["sample", t.checkpoint(), "--n", 10, "--out", t.dir / "run" / "checkpoint.pt" / "s.npy"], "s.npy")
refuses(K, "export --out under a file",
        lambda t: ["export", t.checkpoint(), "--out", t.dir / "run" / "metrics.jsonl" / "e.pt"], "e.pt")


@case(K, "export --half, then sample it", CORRECT)
def _(t: Trial) -> None:
    ckpt = t.checkpoint()
    succeeded(t.cli("export", ckpt, "--out", t.dir / "half.pt", "--half"))
    check(load_state(t.dir / "half.pt")["G"]["out.weight"].dtype == torch.float16, "not fp16")
    succeeded(t.cli("sample", t.dir / "half.pt", "--n", 100, "--out", t.dir / "h.npy"))
    succeeded(t.cli("sample", ckpt, "--n", 100, "--out", t.dir / "f.npy"))
    half, full = np.load(t.dir / "h.npy"), np.load(t.dir / "f.npy")
    check(half.shape == (100, 784) and half.dtype == np.float32, f"shape {half.shape} {half.dtype}")
    check(np.abs(half - full).max() < 0.02, f"fp16 samples differ by {np.abs(half - full).max():.3g}")


@case(K, "export --half, then evaluate it", CORRECT)
def _(t: Trial) -> None:
    succeeded(t.cli("export", t.checkpoint(), "--out", t.dir / "half.pt", "--half"))
    r = t.cli("evaluate", t.dir / "half.pt", "--n", 500)
    succeeded(r)
    check(math.isfinite(json.loads(r.out)["parzen_mean"]), f"score {r.out}")


@case(K, "export over its own input (it would drop D and the optimiser)")
def _(t: Trial) -> str:
    ckpt = t.checkpoint()
    before = ckpt.read_bytes()
    r = t.cli("export", ckpt, "--out", ckpt)
    unchanged(ckpt, before)
    return clear_error(r, "checkpoint.pt")


@case(K, "train into a folder with a checkpoint, without --resume")
def _(t: Trial) -> str:
    run = t.copy_run()
    before = (run / "checkpoint.pt").read_bytes()
    r = t.train(run)
    unchanged(run / "checkpoint.pt", before)
    return clear_error(r, "checkpoint.pt", "--resume")


def resume_refused(title: str, change: Callable[[dict], object], *names: str) -> None:
    """A case: --resume from a run whose checkpoint `change` damaged ends in a clear error, the file untouched."""
    @case(K, title)
    def _(t: Trial) -> str:
        run = t.copy_run()
        state = load_state(run / "checkpoint.pt")
        change(state)
        torch.save(state, run / "checkpoint.pt")
        before = (run / "checkpoint.pt").read_bytes()
        r = t.train(run, epochs=2, resume=True)
        unchanged(run / "checkpoint.pt", before)
        return clear_error(r, "checkpoint.pt", *names)


resume_refused("resume from an export (generator only)", lambda s: [s.pop(k) for k in ("D", "opt_g", "opt_d", "rng")])
resume_refused("resume with NaN in D", lambda s: s["D"][next(iter(s["D"]))].fill_(float("nan")))
resume_refused("resume from a non-numeric epoch", lambda s: s.update(epoch="abc"), "epoch")
resume_refused("resume from D weights of the wrong shapes", lambda s: s["D"].update(
    {k: v[:3] for k, v in s["D"].items()}))


@case(K, "resume from a 0-byte checkpoint")
def _(t: Trial) -> str:
    run = t.copy_run()
    (run / "checkpoint.pt").write_bytes(b"")
    return clear_error(t.train(run, epochs=2, resume=True), "checkpoint.pt")


@case(K, "orphaned .tmp files of a killed save are removed on resume", CORRECT)
def _(t: Trial) -> None:
    run = t.copy_run()
    for name in (".checkpoint.pt.abc123.tmp", ".metrics.jsonl.x.tmp"):
        (run / name).write_bytes(b"\0" * 100_000)
    succeeded(t.train(run, epochs=2, resume=True))
    check(not list(run.glob("*.tmp")), f"left {list(run.glob('*.tmp'))}")
    same_run(run, t.fx.run(2))


@case(K, "a stale lock (its process dead) does not block a resume", CORRECT)
def _(t: Trial) -> None:
    run = t.copy_run()
    (run / ".lock").write_text("999999\n")
    succeeded(t.train(run, epochs=2, resume=True))
    same_run(run, t.fx.run(2))


@case(K, "sample --out into a folder that does not exist yet", CORRECT)
def _(t: Trial) -> None:
    succeeded(t.cli("sample", t.checkpoint(), "--n", 10, "--out", t.dir / "new" / "s.npy"))
    check(np.load(t.dir / "new" / "s.npy").shape == (10, 784), "shape")


# --- resume
R = "resume"


@case(R, "1 epoch, then --resume to 2: bitwise the uninterrupted 2-epoch run", CORRECT)
def _(t: Trial) -> None:
    run = t.copy_run()
    succeeded(t.train(run, epochs=2, resume=True))
    same_run(run, t.fx.run(2))


def killed_then_resumed(title: str, sig: signal.Signals, moment: str) -> None:
    """A case: a 2-epoch run gets `sig` at `moment` ("start-up": 1.5 s in; "log": right after epoch 1's log line;
    "epoch 2": 1 s after the first checkpoint), then --resume (or a fresh start if no checkpoint) ends bitwise
    equal to the uninterrupted run."""
    @case(R, title, CORRECT)
    def _(t: Trial) -> None:
        out = t.dir / "run"
        p = t.start(*t.train_args(out, epochs=2))
        if moment == "start-up":
            time.sleep(1.5)
        elif moment == "log":
            wait_for(lambda: log_lines(out) >= 1, p)
        else:
            wait_for(lambda: (out / "checkpoint.pt").exists(), p)
            time.sleep(1.0)
        p.send_signal(sig)
        r = t.finish(p)
        check(r.rc != 0, "the run finished before the signal")
        if sig == signal.SIGINT:
            check(r.rc == 130 and "--resume" in r.last, f"SIGINT: exit {r.rc}, {r.last[:150]}")
        resume = (out / "checkpoint.pt").exists()
        succeeded(t.train(out, epochs=2, resume=resume))
        same_run(out, t.fx.run(2))


killed_then_resumed("kill -9 at start-up, then start again", signal.SIGKILL, "start-up")
killed_then_resumed("kill -9 right after epoch 1's log line, then --resume", signal.SIGKILL, "log")
killed_then_resumed("kill -9 in epoch 2, then --resume", signal.SIGKILL, "epoch 2")
killed_then_resumed("Ctrl-C (SIGINT) in epoch 2: one line, then --resume", signal.SIGINT, "epoch 2")
killed_then_resumed("SIGTERM in epoch 2, then --resume", signal.SIGTERM, "epoch 2")


@case(R, "--resume with nothing left to do", CORRECT)
def _(t: Trial) -> None:
    run = t.copy_run()
    before = (run / "checkpoint.pt").read_bytes()
    succeeded(t.train(run, resume=True))
    unchanged(run / "checkpoint.pt", before)
    check(log_records(run) == log_records(t.fx.run(1)), "the log changed")


@case(R, "--resume changing eval_every, eval_samples and g_ema (allowed)", CORRECT)
def _(t: Trial) -> None:
    run = t.copy_run()
    r = t.train(run, epochs=2, resume=True, eval_every=2, eval_samples=500, g_ema=[0.9])
    succeeded(r)
    check("warning" in r.err and "g_ema" in r.err, "no warning that the average starts late")
    state = load_state(run / "checkpoint.pt")
    check(state["epoch"] == 2 and "0.9" in state["G_ema"], "no average in the checkpoint")
    check(math.isfinite(log_records(run)[-1]["parzen_mean"]), "no score at epoch 2")


def resume_changed(title: str, *names: str, config: Path | None = None, **sets: object) -> None:
    """A case: --resume with a changed config is refused, naming the key; the checkpoint stays."""
    @case(R, title)
    def _(t: Trial) -> str:
        run = t.copy_run()
        before = (run / "checkpoint.pt").read_bytes()
        cfg = t.write_yaml("toy.yaml", TOY) if config else PAPER
        r = t.train(run, cfg, not config, True, **({"epochs": 2} | sets))
        unchanged(run / "checkpoint.pt", before)
        return clear_error(r, *names)


resume_changed("--resume with another lr", "lr", lr=0.01)
resume_changed("--resume with another seed", "seed", seed=1)
resume_changed("--resume with another batch size", "batch_size", batch_size=250)
resume_changed("--resume with adam instead of sgd", "optimizer", optimizer="adam")
resume_changed("--resume with another config file (a toy one)", "dataset", config=Path("toy"))
refuses(R, "--resume in an empty folder", lambda t: t.train_args(t.file("out", None), resume=True), "checkpoint.pt",
        "nothing to resume")


@case(R, "--resume to a folder that does not exist (not created)")
def _(t: Trial) -> str:
    r = t.train(t.dir / "typo", resume=True)
    check(not (t.dir / "typo").exists(), "the folder was created")
    return clear_error(r, "typo")


def log_damaged(title: str, damage: Callable[[Path], object], warned: bool = True) -> None:
    """A case: --resume after `damage(log)` repairs the log (epochs 1, 2) and ends bitwise equal."""
    @case(R, title, CORRECT)
    def _(t: Trial) -> None:
        run = t.copy_run()
        damage(run / "metrics.jsonl")
        r = t.train(run, epochs=2, resume=True)
        succeeded(r)
        check(not warned or "warning" in r.err, "no warning")
        if not (run / "metrics.jsonl").exists() or damage is _delete:
            check([x["epoch"] for x in log_records(run)] == [2], "log after a deleted log")
            return
        same_run(run, t.fx.run(2))


def _append(text: str) -> Callable[[Path], None]:
    return lambda path: path.open("a").write(text)


def _delete(path: Path) -> None:
    path.unlink()


log_damaged("a half-written last log line", _append('{"epoch": 2, "d_lo'))
log_damaged("a blank last log line", _append("\n"))
log_damaged("a log line from the future (epoch 5)", _append(json.dumps({"epoch": 5, "d_loss": 1.0}) + "\n"), False)
log_damaged("the log deleted", _delete)

# --- divergence
V = "divergence"


def diverges(title: str, may_converge: bool = False, **sets: object) -> None:
    """A case: training with `sets` stops with a clear error on divergence, writing no checkpoint and no log line; or,
    if it `may_converge`, it ends with finite weights and losses."""
    @case(V, title, f"{CLEAR} or {CORRECT}" if may_converge else CLEAR)
    def _(t: Trial) -> str:
        out = t.dir / "out"
        r = t.train(out, **sets)
        if may_converge and r.rc == 0:
            check(finite(load_state(out / "checkpoint.pt")), "non-finite weights saved")
            check(all(math.isfinite(x["d_loss"]) and math.isfinite(x["g_loss"]) for x in log_records(out)), "losses")
            return CORRECT
        check(not (out / "checkpoint.pt").exists(), "a checkpoint was written")
        check(not (out / "metrics.jsonl").exists() or not log_records(out), "a log line was written")
        return clear_error(r, "diverged", "lr")


diverges("lr=1e4", lr=1e4)
diverges("the minimax loss with lr=100", True, lr=100.0, g_loss="minimax")
diverges("lr=10 with momentum 0.99", True, lr=10.0, momentum=0.99, momentum_final=0.99)


@case(V, "divergence in epoch 2 (D's momentum at 1e38 after epoch 1) keeps epoch 1's checkpoint and log")
def _(t: Trial) -> str:
    run = t.copy_run()
    state = load_state(run / "checkpoint.pt")
    for slot in state["opt_d"]["state"].values():
        slot["buf"].fill_(1e38)  # finite, so the checkpoint resumes; the first step of epoch 2 overflows
    torch.save(state, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    r = t.train(run, epochs=3, resume=True)
    unchanged(run / "checkpoint.pt", before)
    check([x["epoch"] for x in log_records(run)] == [1], "log epochs")
    return clear_error(r, "diverged in epoch 2", "epoch 1")


@case(V, "NaN samples refused: sample and evaluate of a diverged G")
def _(t: Trial) -> str:
    bad = t.write_state(lambda s: next(iter(s["G"].values())).fill_(float("inf")))
    clear_error(t.cli("evaluate", bad, "--n", 500), "bad.pt", "finite")
    return clear_error(t.cli("sample", bad, "--n", 10, "--out", t.dir / "s.npy"), "bad.pt", "finite")


diverges("target_scale=1e30 with gradient rescaling", True, scale_grads=True, target_scale=1e30)


@case(V, "lr=1e-30 (trains, learns nothing, finite)", CORRECT)
def _(t: Trial) -> None:
    succeeded(t.train(t.dir / "out", lr=1e-30))
    check(finite(load_state(t.dir / "out" / "checkpoint.pt")), "non-finite weights")


# --- two processes at once
X = "concurrency"


@case(X, "two trains started together in one --out", CORRECT)
def _(t: Trial) -> None:
    out = t.dir / "out"
    runs = [t.start(*t.train_args(out)) for _ in range(2)]
    results = sorted((t.finish(p) for p in runs), key=lambda r: r.rc)
    check([r.rc for r in results] == [0, 2], f"exit codes {[r.rc for r in results]}")
    clear_error(results[1], "in use")
    check([x["epoch"] for x in log_records(out)] == [1], "log lines")
    check(load_state(out / "checkpoint.pt")["epoch"] == 1, "checkpoint")


@case(X, "--resume while another run holds the folder", CORRECT)
def _(t: Trial) -> None:
    out = t.dir / "out"
    first = t.start(*t.train_args(out, epochs=2))
    wait_for(lambda: (out / ".lock").exists(), first)
    time.sleep(0.5)
    clear_error(t.train(out, epochs=3, resume=True), "in use")
    succeeded(t.finish(first))
    same_run(out, t.fx.run(2))


@case(X, "sample again and again while training writes checkpoints", CORRECT)
def _(t: Trial) -> None:
    out = t.dir / "out"
    p = t.start(*t.train_args(out, epochs=3))
    wait_for(lambda: (out / "checkpoint.pt").exists(), p)
    samples = 0
    while p.poll() is None or samples == 0:
        succeeded(t.cli("sample", out / "checkpoint.pt", "--n", 10, "--out", t.dir / "s.npy"))
        check(np.load(t.dir / "s.npy").shape == (10, 784), "shape")
        samples += 1
    succeeded(t.finish(p))


@case(X, "two samples into one file at once", CORRECT)
def _(t: Trial) -> None:
    ckpt = t.checkpoint()
    runs = [t.start("sample", ckpt, "--n", 5000, "--seed", seed, "--out", t.dir / "s.npy") for seed in (0, 1)]
    for p in runs:
        succeeded(t.finish(p))
    check(np.load(t.dir / "s.npy").shape == (5000, 784), "a mixed file")
    check(not list(t.dir.glob(".s.npy*")), "temp files left")


@case(X, "two ablations into one folder: the second is refused", CORRECT)
def _(t: Trial) -> None:
    base = t.write_yaml("base.yaml", yaml.safe_load(PAPER.read_text()) | TINY | {"eval_samples": 500})
    plan = t.write_yaml("plan.yaml", {"base": base.name, "epochs": 1, "seeds": [0], "variants": {"recipe": {}}})
    out = t.dir / "abl"
    first = t.start("ablate", plan, "--out", out, "--quiet")
    wait_for(lambda: (out / ".lock").exists(), first)
    clear_error(t.cli("ablate", plan, "--out", out, "--quiet"), "in use")
    succeeded(t.finish(first))
    check(json.loads((out / "summary.json").read_text())["variants"]["recipe"]["seeds"] == [0], "summary")


# --- operating-system errors
O = "os"
refuses(O, "--out in a read-only file system", lambda t: t.train_args(t.tmpfs("ro", read_only=True) / "run"), "ro")
refuses(O, "--out under a file", lambda t: t.train_args(PAPER / "run"), "mnist_paper.yaml")
refuses(O, "--out a file", lambda t: t.train_args(PAPER), "mnist_paper.yaml")
refuses(O, "--out with a 300-byte name", lambda t: t.train_args(t.dir / ("x" * 300)), "x" * 20)


@case(O, "no --out, in a read-only working folder (runs/ cannot be made)")
def _(t: Trial) -> str:
    ro = t.tmpfs("ro", read_only=True)
    return clear_error(t.cli(*t.train_args(None), cwd=ro), "runs")


@case(O, "ulimit -f smaller than a checkpoint, at train")
def _(t: Trial) -> str:
    return clear_error(t.train(t.dir / "out", cli={"fsize_kb": 100}), "checkpoint.pt", "ulimit")


@case(O, "ulimit -f smaller than a checkpoint, at resume (epoch 1 kept)")
def _(t: Trial) -> str:
    run = t.copy_run()
    before = (run / "checkpoint.pt").read_bytes()
    r = t.train(run, epochs=2, resume=True, cli={"fsize_kb": 100})
    unchanged(run / "checkpoint.pt", before)
    check(not list(run.glob("*.tmp")), "temp files left")
    verdict = clear_error(r, "checkpoint.pt", "ulimit")
    succeeded(t.train(run, epochs=2, resume=True))  # with room again
    same_run(run, t.fx.run(2))
    return verdict


def full_disk(t: Trial) -> Path:
    """A 200 kB tmpfs (or, where mounting is not allowed, nothing: the caller then uses ulimit -f)."""
    return t.tmpfs("full", "200k")


@case(O, "a full disk at train (a 200 kB tmpfs)")
def _(t: Trial) -> str:
    out = full_disk(t) / "run"
    r = t.train(out)
    check(not list(out.glob("*.tmp")), "temp files left")
    return clear_error(r, "checkpoint.pt", "full")


@case(O, "sample onto a full disk")
def _(t: Trial) -> str:
    ckpt = t.checkpoint()
    return clear_error(t.cli("sample", ckpt, "--n", 1000, "--out", full_disk(t) / "s.npy"), "s.npy", "full")


@case(O, "sample past ulimit -f")
def _(t: Trial) -> str:
    ckpt = t.checkpoint()
    return clear_error(t.cli("sample", ckpt, "--n", 1000, "--out", t.dir / "s.npy", fsize_kb=100), "s.npy", "ulimit")


@case(O, "export onto a full disk")
def _(t: Trial) -> str:
    ckpt = t.checkpoint()
    return clear_error(t.cli("export", ckpt, "--out", t.tmpfs("full", "100k") / "e.pt"), "e.pt", "full")


@case(O, "the run folder made read-only mid-way (no root rights)")
def _(t: Trial) -> str:
    out = t.dir / "out"
    p = t.start(*t.train_args(out, epochs=3), unprivileged=True)
    wait_for(lambda: (out / "checkpoint.pt").exists(), p)
    out.chmod(0o555)
    r = t.finish(p)
    out.chmod(0o755)
    state = load_state(out / "checkpoint.pt")
    check(finite(state) and state["epoch"] >= 1, "checkpoint")
    return clear_error(r, "out")


refuses(O, "classifier --out in a read-only file system",
        lambda t: ["classifier", "--epochs", 1, "--quiet", "--out", t.tmpfs("ro", read_only=True) / "c.pt"], "ro")
refuses(O, "classifier --out in a read-only folder (no root rights)",
        lambda t: ["classifier", "--epochs", 1, "--quiet", "--out", t.file("ro", None, 0o555) / "c.pt"], "ro",
        unprivileged=True)

# --- the command line itself
L = "command line"
refuses(L, "no arguments", lambda t: [], "command")
refuses(L, "a misspelt subcommand (trian)", lambda t: ["trian"], "trian")
refuses(L, "train without a config", lambda t: ["train"], "config")
refuses(L, "an unknown flag (--lr)", lambda t: ["train", PAPER, "--lr", "0.1"], "--lr")
refuses(L, "--device cuda without a GPU", lambda t: ["sample", t.checkpoint(), "--n", 10, "--out", t.dir / "s.npy",
                                                    "--device", "cuda"], "cuda") if not torch.cuda.is_available() \
    else None
refuses(L, "--n 0", lambda t: ["sample", t.dir / "x.pt", "--n", 0, "--out", t.dir / "s.npy"], "--n")
refuses(L, "--n abc", lambda t: ["sample", t.dir / "x.pt", "--n", "abc", "--out", t.dir / "s.npy"], "--n", "abc")
refuses(L, "--n 1e11 (more than the memory)", lambda t: ["sample", t.checkpoint(), "--n", "1e11", "--out",
                                                         t.dir / "s.npy"], "--n")
refuses(L, "--n 2.5", lambda t: ["sample", t.dir / "x.pt", "--n", "2.5", "--out", t.dir / "s.npy"], "--n")
refuses(L, "--seed abc", lambda t: ["sample", t.dir / "x.pt", "--n", 1, "--seed", "abc", "--out", t.dir / "s.npy"],
        "--seed")
refuses(L, "ablate with a plan that does not exist", lambda t: ["ablate", t.dir / "plan.yaml"], "plan.yaml")
refuses(L, "ablate with a plan lacking keys", lambda t: ["ablate", t.write_yaml("plan.yaml", {"base": "x.yaml"})],
        "plan.yaml")
refuses(L, "classifier --epochs 0", lambda t: ["classifier", "--epochs", 0], "--epochs")


@case(L, "--version", CORRECT)
def _(t: Trial) -> None:
    r = t.cli("--version")
    succeeded(r)
    check(re.match(r"gan_lib \d+\.\d+", r.out), f"prints {r.out!r}")


@case(L, "--help of every command", CORRECT)
def _(t: Trial) -> None:
    for command in ([], ["train"], ["sample"], ["evaluate"], ["export"], ["classifier"], ["ablate"]):
        r = t.cli(*command, "--help")
        succeeded(r)
        check("usage:" in r.out, f"{command} --help")


@case(L, "--n 1e3 means 1000", CORRECT)
def _(t: Trial) -> None:
    succeeded(t.cli("sample", t.checkpoint(), "--n", "1e3", "--out", t.dir / "s.npy"))
    x = np.load(t.dir / "s.npy")
    check(x.shape == (1000, 784) and 0 <= x.min() and x.max() <= 1, f"shape {x.shape}")


# ---------------------------------------------------------------- running

def run_case(c: Case, root: Path, fixtures: Fixtures) -> tuple[str, str, float]:
    """(outcome, note, seconds) of one case in its own folder under root."""
    start = time.monotonic()
    t = Trial(root / f"case{c.number:03d}", fixtures)
    try:
        outcome, note = c.body(t), ""
    except Wrong as e:
        outcome, note = WRONG, str(e)
    except Lost as e:
        outcome, note = LOST, str(e)
    except Exception as e:  # the harness itself (or a fixture) broke
        outcome, note = HARNESS, f"{type(e).__name__}: {e}"
    finally:
        t.close()
    if t.tracebacks:
        outcome, note = TRACEBACK, t.tracebacks[0]
    seconds = time.monotonic() - start
    print(f"#{c.number} {c.title}: {outcome} ({seconds:.0f} s) {note[:200]}", file=sys.stderr, flush=True)
    return outcome, note[:200], seconds


def markdown(rows: list[tuple[Case, str, str]]) -> str:
    lines = ["| # | category | case | expected | outcome |", "|---|---|---|---|---|"]
    for c, outcome, note in rows:
        shown = outcome if outcome in (CLEAR, CORRECT) else f"**{outcome}**: {note}"
        lines.append(f"| {c.number} | {c.category} | {c.title} | {c.expected} | {shown.replace('|', '/')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help="run only the cases whose title or category matches this regular expression")
    p.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    p.add_argument("--keep", action="store_true", help="keep the temp folders (their path is printed)")
    args = p.parse_args(argv)
    cases = [c for c in CASES if not args.only or re.search(args.only, f"{c.category}: {c.title}")]
    root = Path(tempfile.mkdtemp(prefix="fault_cases."))
    fixtures = Fixtures(root / "fixtures")
    start = time.monotonic()
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda c: run_case(c, root, fixtures), cases))
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    rows = [(c, outcome, note) for c, (outcome, note, _) in zip(cases, results, strict=True)]
    print(markdown(rows))
    totals = Counter(outcome for _, outcome, _ in rows)
    failed = [c.number for c, outcome, _ in rows if outcome not in (CLEAR, CORRECT)]
    print(f"\n{len(rows)} cases in {time.monotonic() - start:.0f} s: "
          + ", ".join(f"{n} {outcome}" for outcome, n in totals.most_common())
          + (f"; not as expected: {failed}" if failed else "; all as expected"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
