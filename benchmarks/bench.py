"""Training and evaluation speed of the faithful MNIST recipe: gan_lib's trainer against a straightforward PyTorch loop.

    python benchmarks/bench.py [--device cpu|cuda] [--steps 300] [--out benchmarks/results/cpu.json]

Prints one table and writes it as JSON. Iterations/s are medians over alternating repeats of both loops, each in a fresh
process (so that load from other processes hits both alike, and the reference runs with PyTorch's default float
settings); peak memory is the max RSS of a separate one-epoch `gan_lib train`.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_loop

from gan_lib.config import load_config
from gan_lib.data import load_mnist
from gan_lib.metrics import parzen_evaluate
from gan_lib.models import generate
from gan_lib.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mnist_paper.yaml"


def run_child(loop: str, steps: int, device: str) -> float:
    """Iterations/s of one loop ("reference" or "gan_lib"), measured in a fresh Python process."""
    cmd = [sys.executable, __file__, "--child", loop, "--steps", str(steps), "--device", device]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout)


def gan_lib_its(data: torch.Tensor, device: str) -> float:
    """Iterations/s of gan_lib's trainer on the paper config: the second of two epochs over `data`."""
    trainer = Trainer(load_config(CONFIG, ["epochs=2"]), data, device)
    trainer.train_epoch()
    _sync(device)
    start = time.perf_counter()
    trainer.train_epoch()
    _sync(device)
    return trainer.steps_per_epoch() / (time.perf_counter() - start)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def one_epoch_peak_rss_mb(device: str) -> tuple[float, float]:
    """Peak resident memory (MB) and wall time (s) of a one-epoch `python -m gan_lib train` in a child process."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "gan_lib",
            "train",
            str(CONFIG),
            "--set",
            "epochs=1",
            "--device",
            device,
            "--out",
            out,
            "--quiet",
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, wall


def parzen_seconds(device: str) -> float:
    """Wall time of the full Parzen protocol: 10,000 samples, 10 sigmas on 1,000 validation images, 10,000 test."""
    mnist = load_mnist()
    trainer = Trainer(load_config(CONFIG), torch.from_numpy(mnist.train_x[:1000]), device)
    start = time.perf_counter()
    samples = generate(trainer.G.eval(), trainer.cfg, 10000, seed=0)
    parzen_evaluate(samples, torch.from_numpy(mnist.valid_x).to(device), torch.from_numpy(mnist.test_x).to(device))
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--steps", type=int, default=300, help="timed iterations (minibatches of 100) per repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, help="JSON file to write (default benchmarks/results/<device>.json)")
    p.add_argument("--child", choices=["reference", "gan_lib"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        data = torch.from_numpy(load_mnist().train_x[: args.steps * 100])
        loop = reference_loop.train if args.child == "reference" else gan_lib_its
        print(loop(data, device=args.device))
        return

    ref, ours = [], []
    for _ in range(args.repeats):
        ref.append(run_child("reference", args.steps, args.device))
        ours.append(run_child("gan_lib", args.steps, args.device))
    rss, epoch_s = one_epoch_peak_rss_mb(args.device)
    result = {
        "device": args.device,
        "hardware": torch.cuda.get_device_name()
        if args.device == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "reference_its": round(statistics.median(ref), 1),
        "gan_lib_its": round(statistics.median(ours), 1),
        "speedup": round(statistics.median(ours) / statistics.median(ref), 2),
        "one_epoch_seconds": round(epoch_s, 1),
        "one_epoch_peak_rss_mb": round(rss),
        "parzen_seconds": round(parzen_seconds(args.device), 1),
        "repeats": {"reference_its": [round(r, 1) for r in ref], "gan_lib_its": [round(o, 1) for o in ours]},
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    out = args.out or ROOT / "benchmarks" / "results" / f"{args.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
