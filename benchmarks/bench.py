"""Training speed of the faithful MNIST recipe: gan_lib's trainer against the plain PyTorch loop (reference_loop.py).

    python benchmarks/bench.py [--state CKPT ...] [--steps 300] [--warmup 30] [--repeats 3] [--epoch-repeats 2]

Both loops start from the same weights and momentum buffers: a fresh initialisation (the first epoch), and each
`--state`, a checkpoint of a faithful MNIST run (`gan_lib train configs/mnist_paper.yaml`) later in training, where
subnormal floats appear. Each measurement runs in a fresh process: `--warmup` untimed minibatches, then `--steps` timed
ones. The two loops alternate, pair after pair, so that load from other processes hits both alike. Then whole one-epoch
runs, start to exit: `python -m gan_lib train` against the plain loop's script. Prints a table and writes it, with the
machine, the commands and every repeat, as JSON (default benchmarks/results/<machine>.json, e.g. cpu-amd-epyc-avx2).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # time this checkout's gan_lib, wherever the command is run from

from gan_lib.ablation import cpu_name
from gan_lib.config import load_config
from gan_lib.data import load_mnist, training_data
from gan_lib.metrics import parzen_evaluate
from gan_lib.models import generate
from gan_lib.train import Trainer

CONFIG = "configs/mnist_paper.yaml"
REFERENCE = "benchmarks/reference_loop.py"
#: Config keys that may differ between a state's run and the recipe without changing what a training step does.
NOT_RECIPE = {"epochs", "eval_every", "eval_samples", "g_ema", "data_dir"}
LOOPS = ("plain", "gan_lib")
#: Children run from the checkout's root and import its gan_lib (the plain loop imports none).
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


# ---------------------------------------------------------------- one measurement of gan_lib (in a child process)


class Clock:
    """Stands in for the tqdm bar of `Trainer.train_epoch`: notes the time after `warmup` and `warmup + steps` steps."""

    def __init__(self, warmup: int, steps: int, device: str) -> None:
        self.marks, self.done, self.device = (warmup, warmup + steps), 0, device
        self.times: list[float] = []

    def update(self, n: int) -> None:
        self.done += n
        if self.done in self.marks:
            if self.device == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())


def gan_lib_child(state: Path, steps: int, warmup: int, device: str) -> dict[str, float]:
    """Iterations/s of gan_lib's trainer from `state`: one epoch over the first warmup + steps minibatches."""
    cfg = load_config(ROOT / CONFIG)
    trainer = Trainer.resume(state, training_data(cfg)[: (warmup + steps) * cfg.batch_size], device, cfg)
    clock = Clock(warmup, steps, device)
    trainer.train_epoch(clock)
    grads_and_buffers = [
        t for opt in (trainer.opt_g, trainer.opt_d) for p, s in opt.state.items() for t in (p.grad, s["buf"])
    ]
    return {
        "its": steps / (clock.times[1] - clock.times[0]),
        "subnormal_fraction": subnormal_fraction(grads_and_buffers),
    }


def profile_child(state: Path, steps: int, device: str) -> dict[str, float]:
    """Shares of gan_lib's training time as torch.profiler sees it over `steps` minibatches from `state` (after as many
    untimed): matrix products, the optimiser step, and everything else."""
    cfg = load_config(ROOT / CONFIG)
    trainer = Trainer.resume(state, training_data(cfg)[: steps * cfg.batch_size], device, cfg)
    trainer.train_epoch()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        trainer.train_epoch()
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    matmul = sum(t for k, t in self_us.items() if k in ("aten::mm", "aten::addmm"))
    optimiser = sum(t for k, t in self_us.items() if k.startswith("Optimizer.step") or k == "aten::_fused_sgd_")
    return {"matmul": matmul / total, "optimiser": optimiser / total, "other": 1 - (matmul + optimiser) / total}


def subnormal_cost(repeats: int = 20) -> dict[str, float]:
    """How many times longer this CPU takes, under PyTorch's default float settings and on one thread, when operands
    are subnormal: a matrix product of the size of D's first layer, and a momentum decay of a million numbers."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(False)
    gen = torch.Generator().manual_seed(0)
    a, b, out = torch.rand(200, 1200, generator=gen), torch.rand(1200, 784, generator=gen), torch.empty(200, 784)
    buf, decayed = torch.rand(10**6, generator=gen), torch.empty(10**6)
    tiny = torch.finfo(torch.float32).tiny
    ops = {"matmul": lambda x: torch.mm(x, b, out=out), "elementwise": lambda x: torch.mul(x, 0.7, out=decayed)}
    cost = {}
    for name, op in ops.items():
        normal = a if name == "matmul" else buf
        seconds = {}
        for kind, x in (("normal", normal), ("subnormal", normal * tiny / 4)):
            op(x)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                op(x)
                times.append(time.perf_counter() - start)
            seconds[kind] = statistics.median(times)
        cost[name] = seconds["subnormal"] / seconds["normal"]
    return cost


def subnormal_fraction(tensors: list[torch.Tensor]) -> float:
    """Share of the entries that are subnormal floats (nonzero, below float32's smallest normal number)."""
    tiny = torch.finfo(torch.float32).tiny
    return sum(int(((t != 0) & (t.abs() < tiny)).sum()) for t in tensors) / sum(t.numel() for t in tensors)


# ---------------------------------------------------------------- the parent


def child_command(loop: str, state: Path, args: argparse.Namespace) -> list[str]:
    """One measurement's command line. The plain loop runs as its own script: it never imports gan_lib, whose import
    flushes subnormals to zero on every thread."""
    common = ["--state", str(state), "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
    if loop == "plain":
        return [sys.executable, REFERENCE, *common, "--data-rows", str((args.warmup + args.steps) * 100)]
    return [sys.executable, "benchmarks/bench.py", "--child", "gan_lib", *common]


def run_child(cmd: list[str]) -> dict[str, float]:
    """Run one measurement and parse the JSON line it prints last."""
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=CHILD_ENV)
    if done.returncode:
        raise RuntimeError(f"{shlex.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


#: Runs a command and prints its wall time, start to exit, and its peak memory. A small process of its own: a child's
#: peak resident memory counts the memory of the process it was forked from, which for bench.py is hundreds of MB.
TIMER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "code": code, "mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def timed_run(cmd: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak resident memory (MB) of one process, start to exit."""
    result = run_child([sys.executable, "-c", TIMER, *cmd])
    if result["code"]:
        raise RuntimeError(f"{shlex.join(cmd)} failed; run it alone to see why")
    return result["seconds"], result["mb"]


def fresh_state(path: Path) -> Path:
    """A checkpoint of the recipe's initialisation (seed 0): the state at the start of the first epoch."""
    cfg = load_config(ROOT / CONFIG)
    Trainer(cfg, training_data(cfg)).save(path)
    return path


def check_state(path: Path) -> int:
    """The number of epochs a state has trained; exits with a clear message if it is not a run of the recipe."""
    if not path.is_file():
        sys.exit(f"error: --state {path}: no such file; give a checkpoint.pt written by `gan_lib train`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"config", "G", "D", "opt_g", "opt_d", "epoch", "step"} <= state.keys():
        sys.exit(f"error: --state {path}: not a full gan_lib training checkpoint (G, D, optimisers, epoch, step)")
    recipe = load_config(ROOT / CONFIG).to_dict()
    differ = sorted(k for k, v in recipe.items() if k not in NOT_RECIPE and state["config"].get(k, v) != v)
    if differ:
        sys.exit(f"error: --state {path}: trained with other settings than {CONFIG} ({', '.join(differ)})")
    return int(state["epoch"])


def parzen_seconds(device: str) -> float:
    """Wall time of the full Parzen protocol: 10,000 samples, 10 sigmas on 1,000 validation images, 10,000 test."""
    mnist = load_mnist()
    trainer = Trainer(load_config(ROOT / CONFIG), torch.from_numpy(mnist.train_x[:1000]), device)
    start = time.perf_counter()
    samples = generate(trainer.G.eval(), trainer.cfg, 10000, seed=0)
    parzen_evaluate(samples, torch.from_numpy(mnist.valid_x).to(device), torch.from_numpy(mnist.test_x).to(device))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def summary(values: list[float], digits: int = 1) -> dict[str, Any]:
    """Median, range and every value, rounded."""
    rounded = [round(v, digits) for v in values]
    return {
        "median": round(statistics.median(values), digits),
        "min": min(rounded),
        "max": max(rounded),
        "all": rounded,
    }


def machine(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }


def machine_slug(info: dict[str, Any]) -> str:
    """A file name for one kind of machine, e.g. cpu-amd-epyc-avx2: a measurement on another processor or with other
    kernels goes beside the committed ones instead of replacing them."""
    name = f"cpu-{info['cpu']}-{info['cpu_capability']}" if info["device"] == "cpu" else f"cuda-{info['device']}"
    name = re.sub(r"\((r|tm)\)", "", name.lower())
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-")


Runs = list[dict[str, list[dict[str, float]]]]


def measure(
    states: list[tuple[int, Path]], epoch_cmds: dict[str, list[str]], args: argparse.Namespace, out: Path
) -> tuple[Runs, dict[str, list[tuple[float, float]]]]:
    """Every measurement, with a progress bar: per state, `repeats` alternating pairs; then the one-epoch pairs (the
    gan_lib run writing into `out`, emptied after each)."""
    runs: Runs = [{loop: [] for loop in LOOPS} for _ in states]
    one_epoch: dict[str, list[tuple[float, float]]] = {loop: [] for loop in LOOPS}
    with tqdm(total=2 * (len(states) * args.repeats + args.epoch_repeats), unit="run", desc="bench") as bar:
        for r in range(args.repeats):
            for i, (epoch, path) in enumerate(states):
                for loop in LOOPS if (r + i) % 2 == 0 else LOOPS[::-1]:
                    bar.set_postfix_str(f"{loop} after {epoch} epochs")
                    runs[i][loop].append(run_child(child_command(loop, path, args)))
                    bar.update()
        for r in range(args.epoch_repeats):
            for loop in LOOPS if r % 2 == 0 else LOOPS[::-1]:
                bar.set_postfix_str(f"{loop}, one epoch")
                one_epoch[loop].append(timed_run(epoch_cmds[loop]))
                shutil.rmtree(out, ignore_errors=True)
                bar.update()
    return runs, one_epoch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, action="append", default=[], help="gan_lib checkpoint to start from (repeat)")
    p.add_argument("--steps", type=int, default=300, help="timed minibatches of 100 per measurement")
    p.add_argument("--warmup", type=int, default=30, help="untimed minibatches before them")
    p.add_argument("--repeats", type=int, default=3, help="measurement pairs per state")
    p.add_argument("--epoch-repeats", type=int, default=2, help="pairs of whole one-epoch runs (0: none)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", type=Path, help="JSON file to write (default benchmarks/results/<machine>.json)")
    p.add_argument("--child", choices=["gan_lib", "probe", "profile"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "probe":
        print(json.dumps(subnormal_cost()))
        return
    if args.child == "profile":
        print(json.dumps(profile_child(args.state[0], args.steps, args.device)))
        return
    if args.child == "gan_lib":
        print(json.dumps(gan_lib_child(args.state[0], args.steps, args.warmup, args.device)))
        return
    if args.warmup < 1 or args.steps < 1 or args.warmup + args.steps > 500:
        sys.exit("error: --warmup and --steps must be at least 1 and together at most 500 (one epoch of MNIST)")
    if args.repeats < 1 or args.epoch_repeats < 0:
        sys.exit("error: --repeats must be at least 1 and --epoch-repeats at least 0")
    states = [(check_state(path.resolve()), path.resolve()) for path in args.state]
    info = machine(args.device)
    epoch_cmds = {
        "plain": [sys.executable, REFERENCE, "--device", args.device],
        "gan_lib": [sys.executable, "-m", "gan_lib", "train", CONFIG, "--set", "epochs=1", "--device", args.device],
    }
    with tempfile.TemporaryDirectory() as tmp:
        epoch_cmds["gan_lib"] += ["--out", str(Path(tmp) / "run"), "--quiet"]
        states.insert(0, (0, fresh_state(Path(tmp) / "fresh.pt")))
        runs, one_epoch = measure(states, epoch_cmds, args, Path(tmp) / "run")
        print("profiling gan_lib, timing the Parzen protocol, probing subnormal arithmetic...", file=sys.stderr)
        profile_cmd = [sys.executable, "benchmarks/bench.py", "--child", "profile", "--state", str(states[0][1])]
        profile = run_child([*profile_cmd, "--steps", "100", "--device", args.device])
    result = {
        "command": shlex.join(["python", "benchmarks/bench.py", *sys.argv[1:]]),
        "smoke": args.steps < 100 or args.repeats < 3,
        **{k: getattr(args, k) for k in ("steps", "warmup", "repeats", "epoch_repeats")},
        **info,
        "states": [state_result(epoch, path, run) for (epoch, path), run in zip(states, runs, strict=True)],
    }
    if args.epoch_repeats:
        result["one_epoch"] = {
            **{
                f"{loop}_command": shlex.join(["python", *cmd[1:]]).replace(tmp, "TMP")
                for loop, cmd in epoch_cmds.items()
            },
            **{f"{loop}_seconds": summary([wall for wall, _ in one_epoch[loop]], 2) for loop in LOOPS},
            **{f"{loop}_peak_rss_mb": round(max(rss for _, rss in one_epoch[loop])) for loop in LOOPS},
        }
    result["parzen_seconds"] = round(parzen_seconds(args.device), 1)
    result["gan_lib_profile"] = {"steps": 100, **{part: round(share, 3) for part, share in profile.items()}}
    probe = run_child([sys.executable, "benchmarks/bench.py", "--child", "probe"])
    result["subnormal_slowdown"] = {name: round(factor, 1) for name, factor in probe.items()}
    print_table(result)
    out = args.out or ROOT / "benchmarks" / "results" / f"{machine_slug(info)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


def state_result(epoch: int, path: Path, runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """One state's row: iterations/s of both loops, their ratio per pair, and the subnormal share of each loop's
    gradients and momentum buffers after its last step."""
    plain, ours = runs["plain"], runs["gan_lib"]
    return {
        "epochs_trained": epoch,
        "state": "fresh initialisation (seed 0)" if epoch == 0 else path.name,
        "plain_its": summary([q["its"] for q in plain]),
        "gan_lib_its": summary([o["its"] for o in ours]),
        "ratio": summary([o["its"] / q["its"] for q, o in zip(plain, ours, strict=True)], 2),
        "plain_subnormal_fraction": statistics.median(q["subnormal_fraction"] for q in plain),
        "gan_lib_subnormal_fraction": statistics.median(o["subnormal_fraction"] for o in ours),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['cpu']} ({result['device']}), {result['torch_threads']} threads, torch {result['torch']}")
    print(
        f"{'epochs trained':>14} {'plain it/s':>11} {'gan_lib it/s':>13} {'ratio':>6} {'range':>11} {'subnormal':>10}"
    )
    for s in result["states"]:
        r = s["ratio"]
        print(
            f"{s['epochs_trained']:>14} {s['plain_its']['median']:>11} {s['gan_lib_its']['median']:>13} "
            f"{r['median']:>6} {r['min']:>5}-{r['max']:<5} {s['plain_subnormal_fraction']:>10.1e}"
        )
    if "one_epoch" in result:
        e = result["one_epoch"]
        print(
            f"one epoch, start to exit: plain {e['plain_seconds']['median']} s, gan_lib {e['gan_lib_seconds']['median']} s"
        )
    print(f"Parzen protocol: {result['parzen_seconds']} s")


if __name__ == "__main__":
    main()
