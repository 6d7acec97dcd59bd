"""Publish a training run into the repository: its log, and for G and each average of G the generator of the epoch
with the best held-out validation score (chosen without the test set), copied from the run's kept fp16 generators.

    python scripts/publish_run.py RUN_DIR DEST_DIR [--full]

--full also copies the run's full, resumable checkpoint (G, D, optimiser state, RNG, averages; about 50 MB).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from gan_lib.checkpoint import load_checkpoint
from gan_lib.files import save_atomic
from gan_lib.train import best_evaluation, read_log, stop_reason


def publish(run: Path, dest: Path, full: bool) -> list[str]:
    """Copy the run's log and chosen generators (and the full checkpoint if `full`); one summary line per generator."""
    records = read_log(run / "metrics.jsonl")
    decays = sorted({float(d) for r in records for d in r.get("ema", {})})
    lines = []
    for average in [None, *decays]:
        name = "G" if average is None else f"ema{average}"
        best = best_evaluation(records, average)
        source = run / "generators" / f"epoch{best['epoch']:04d}_{name}.pt"
        target = dest / ("generator.pt" if average is None else f"generator_{name}.pt")
        save_atomic(load_checkpoint(source), target)
        lines.append(
            f"{name}: epoch {best['epoch']}, validation {best['parzen_valid']:.1f}, "
            f"test {best['parzen_mean']:.1f} +- {best['parzen_se']:.1f} (sigma {best['sigma']:.3f}) -> {target}"
        )
    lines.append(f"stop rule: {stop_reason(records) or 'not met, resume the run'} (log at epoch {records[-1]['epoch']})")
    shutil.copyfile(run / "metrics.jsonl", dest / "metrics.jsonl")
    if full:
        state = load_checkpoint(run / "checkpoint.pt")
        save_atomic(state, dest / "checkpoint.pt")
        lines.append(f"full checkpoint at epoch {state['epoch']} -> {dest / 'checkpoint.pt'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder (metrics.jsonl, generators/, checkpoint.pt)")
    parser.add_argument("dest", type=Path, help="folder in the repository, e.g. checkpoints/mnist_paper_cpu")
    parser.add_argument("--full", action="store_true", help="also copy the full resumable checkpoint")
    args = parser.parse_args()
    for line in publish(args.run, args.dest, args.full):
        print(line)


if __name__ == "__main__":
    sys.exit(main())
