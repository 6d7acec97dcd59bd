"""Ablations: the recipe's ingredients changed one at a time, each with several seeds, scored at a fixed budget.

A plan (``configs/ablations.yaml``) names a base config, the budget in epochs, the seeds and the variants (config
overrides). Each (variant, seed) run ends in one JSON file, written atomically, so an interrupted plan resumes where it
stopped. `jobs` runs train at once in separate processes; on one GPU this hides each run's kernel-launch latency
behind the others' work.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from gan_lib.classifier import embed, load_classifier
from gan_lib.config import Config, ConfigError, config_from_dict, load_config, read_yaml_mapping
from gan_lib.data import load_mnist
from gan_lib.files import write_json_atomic
from gan_lib.metrics import ParzenProtocol, frechet_distance
from gan_lib.train import Trainer

SUMMARY = "summary.json"


@dataclass(frozen=True)
class Plan:
    """A base config, the training budget, the seeds, and named variants (overrides of the base config)."""

    base: Path
    epochs: int
    seeds: tuple[int, ...]
    variants: dict[str, dict[str, Any]]

    def configs(self) -> dict[tuple[str, int], Config]:
        """The validated config of every (variant, seed) run."""
        base = load_config(self.base).to_dict()
        return {
            (name, seed): config_from_dict(
                base | changes | {"epochs": self.epochs, "seed": seed}, source=f"variant {name!r}"
            )
            for name, changes in self.variants.items()
            for seed in self.seeds
        }


def load_plan(path: str | Path, epochs: int | None = None, seeds: list[int] | None = None) -> Plan:
    """Read and validate a plan file (every variant's config is built once here); `epochs`/`seeds` override it."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    keys = {"base", "epochs", "seeds", "variants"}
    if set(raw) != keys:
        raise ConfigError(f"plan {path}: expected exactly the keys {sorted(keys)}, got {sorted(raw)}")
    variants = raw["variants"]
    if not isinstance(variants, dict) or not variants or not all(isinstance(v, dict) for v in variants.values()):
        raise ConfigError(f"plan {path}: 'variants' must map each name to a mapping of config overrides")
    plan = Plan(
        base=path.parent / raw["base"],
        epochs=int(raw["epochs"] if epochs is None else epochs),
        seeds=tuple(raw["seeds"] if seeds is None else seeds),
        variants={str(name): dict(changes) for name, changes in variants.items()},
    )
    plan.configs()
    return plan


def run_name(variant: str, seed: int) -> str:
    """File-name stem of one run, e.g. 'alternating-k-2-seed1'."""
    return f"{re.sub(r'[^a-z0-9]+', '-', variant.lower()).strip('-')}-seed{seed}"


def reference_features(data_dir: str | None) -> Tensor:
    """The reference classifier's features of the 10,000 MNIST test images, the target of every run's Fréchet distance."""
    return embed(load_classifier(), torch.from_numpy(load_mnist(data_dir).test_x))[0]


def run_one(cfg: Config, variant: str, device: str, out_file: Path, reference: Tensor) -> dict[str, Any]:
    """Train one run for cfg.epochs, score its G (the Parzen protocol, and the Fréchet distance of the reference
    classifier's features to `reference`, both on the protocol's cfg.eval_samples samples) and write the record
    atomically."""
    mnist = load_mnist(cfg.data_dir)
    protocol = ParzenProtocol(torch.from_numpy(mnist.valid_x), torch.from_numpy(mnist.test_x), cfg.eval_samples)
    trainer = Trainer(cfg, torch.from_numpy(mnist.train_x), device)
    start = time.perf_counter()
    trainer.fit(progress=False)
    train_seconds = time.perf_counter() - start
    samples = protocol.samples(trainer.G.eval(), cfg)
    classifier = load_classifier().to(samples.device)
    record = {
        "variant": variant,
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "train_seconds": train_seconds,
        **protocol.evaluate(samples).to_dict(),
        "frechet": frechet_distance(embed(classifier, samples)[0], reference.to(samples.device)),
        "config": cfg.to_dict(),
    }
    write_json_atomic(out_file, record)
    return record


def run_plan(plan: Plan, out_dir: str | Path, device: str = "cpu", jobs: int = 1, progress: bool = True) -> None:
    """Every run of the plan that has no JSON file in out_dir yet, `jobs` at a time (each in its own process)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [
        (cfg, variant, out / f"{run_name(variant, seed)}.json")
        for (variant, seed), cfg in plan.configs().items()
        if not (out / f"{run_name(variant, seed)}.json").exists()
    ]
    if not todo:
        return
    reference = reference_features(todo[0][0].data_dir)
    with tqdm(total=len(todo), disable=not progress, unit="run", desc="ablations") as bar:
        if jobs == 1:
            for cfg, variant, path in todo:
                run_one(cfg, variant, device, path, reference)
                bar.update()
            return
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
        with ProcessPoolExecutor(
            jobs, mp_context=context, initializer=torch.set_num_threads, initargs=(threads,)
        ) as pool:
            for future in as_completed(
                [pool.submit(run_one, cfg, variant, device, path, reference) for cfg, variant, path in todo]
            ):
                future.result()
                bar.update()


def summarise(plan: Plan, out_dir: str | Path, command: str) -> dict[str, Any]:
    """Mean and sample standard deviation over the seeds of each variant's Parzen score and Fréchet distance, from the
    run files in out_dir; written atomically to out_dir/summary.json with the command that produced them."""
    out = Path(out_dir)
    variants = {}
    for variant in plan.variants:
        runs = [json.loads((out / f"{run_name(variant, seed)}.json").read_text()) for seed in plan.seeds]
        variants[variant] = {
            "seeds": [r["seed"] for r in runs],
            "parzen": _mean_std([r["parzen_mean"] for r in runs]),
            "frechet": _mean_std([r["frechet"] for r in runs]),
        }
    summary = {"command": command, "epochs": plan.epochs, "variants": variants}
    write_json_atomic(out / SUMMARY, summary)
    return summary


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
