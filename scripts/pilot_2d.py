"""The pilot that chose the 2-D ablations' budget: the recipe on the ring, a few seeds, twice the planned budget, its
mode metrics scored every `--every` minibatches on the samples the plan scores (2,500, seed 1234).

    OMP_NUM_THREADS=1 python scripts/pilot_2d.py --out results/ablations_2d/pilot_ring.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from gan_lib.ablation import MIXTURE_EVAL_SAMPLES
from gan_lib.config import load_config
from gan_lib.data import BENCHMARKS, training_data
from gan_lib.files import write_json_atomic
from gan_lib.metrics import EVAL_SEED
from gan_lib.metrics.modes import mode_scores
from gan_lib.models import generate
from gan_lib.train import Trainer, Update


def pilot(config: Path, seed: int, epochs: int, every: int) -> dict:
    """The recipe of `config` with `seed`, trained `epochs` epochs; its mode metrics after every `every` minibatches."""
    cfg = load_config(config).replace(seed=seed, epochs=epochs)
    trainer, mixture, curve = Trainer(cfg, training_data(cfg)), BENCHMARKS[cfg.dataset](), []

    def score(tr: Trainer, update: Update) -> None:
        if tr.step % every == 0:
            x = generate(tr.G, cfg, MIXTURE_EVAL_SAMPLES, EVAL_SEED).numpy()
            curve.append({"step": tr.step} | mode_scores(x, mixture).to_dict())

    start = time.process_time()
    trainer.fit(progress=False, step_hook=score)
    return {"seed": seed, "cpu_seconds": time.process_time() - start, "curve": curve}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("configs/mixture2d_ring.yaml"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=60, help="epochs of 100 minibatches (default: twice the plan's 30)")
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = [pilot(args.config, seed, args.epochs, args.every) for seed in args.seeds]
    command = "python " + shlex.join(sys.argv)
    write_json_atomic(args.out, {"command": command, "config": str(args.config), "runs": runs})


if __name__ == "__main__":
    main()
