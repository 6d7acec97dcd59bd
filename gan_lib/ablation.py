"""Ablations: the recipe's ingredients changed one at a time, each with several seeds, scored at a fixed budget.

A plan (``configs/ablations*.yaml``) names a base config, the budget in epochs, the seeds and the variants (config
overrides). Each (variant, seed) run ends in one JSON record, written atomically by the process that started the plan,
so an interrupted plan resumes where it stopped. MNIST runs are scored by the Parzen protocol and a Fréchet distance,
runs on the 2-D ring or grid by their mode metrics (`gan_lib.metrics.modes`).

Runs go to one of two backends, with the same records, resumption and summary: a local process pool (`jobs` runs at
once; on one GPU this hides each run's kernel-launch latency behind the others' work), or an existing Dask distributed
cluster (`cluster`, its scheduler's address). Dask rather than Ray: its ``Client.submit`` and ``as_completed`` take the
place of the process pool's in the same loop, runs are plain functions with no actor or object-store model to adopt,
and ``LocalCluster`` starts a real multi-process cluster in a test in seconds. It is an optional extra
(``pip install "gan_lib[dask]"``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from gan_lib.classifier import embed, load_classifier
from gan_lib.config import Config, ConfigError, config_from_dict, load_config, read_yaml_mapping
from gan_lib.data import BENCHMARKS, MNIST, load_mnist, training_data
from gan_lib.files import write_json_atomic
from gan_lib.metrics import EVAL_SEED, ParzenProtocol, frechet_distance
from gan_lib.metrics.modes import mode_scores
from gan_lib.models import generate
from gan_lib.train import Trainer

SUMMARY = "summary.json"
#: Samples each 2-D run is scored on (as Srivastava et al. 2017 and Lin et al. 2018), and how many its record keeps.
MIXTURE_EVAL_SAMPLES, KEPT_SAMPLES = 2500, 200
#: Per dataset: the summary's name for each score and its key in a run record.
SCORES = {
    "mnist": {"parzen": "parzen_mean", "frechet": "frechet"},
    **{name: {key: key for key in ("covered", "touched", "high_quality", "kl")} for name in BENCHMARKS},
}
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 10_000, 0
#: How long `connect` waits for a Dask scheduler to answer.
CLUSTER_TIMEOUT_S = 10


class ClusterError(RuntimeError):
    """No Dask scheduler answered at the given address, or Dask is not installed; the message says what to do."""


@dataclass(frozen=True)
class Plan:
    """A base config, the training budget, the seeds, and named variants (overrides of the base config). With
    `same_g_updates` a run of Algorithm 1 with k D-steps trains k times the epochs, so every variant makes as many
    G updates as the simultaneous update does."""

    base: Path
    epochs: int
    seeds: tuple[int, ...]
    variants: dict[str, dict[str, Any]]
    same_g_updates: bool = False

    def configs(self) -> dict[tuple[str, int], Config]:
        """The validated config of every (variant, seed) run."""
        base = load_config(self.base).to_dict()
        configs = {}
        for name, changes in self.variants.items():
            for seed in self.seeds:
                cfg = config_from_dict(
                    base | changes | {"epochs": self.epochs, "seed": seed}, source=f"variant {name!r}"
                )
                configs[name, seed] = cfg.replace(epochs=self.epochs * cfg.k) if self.same_g_updates else cfg
        return configs


def load_plan(path: str | Path, epochs: int | None = None, seeds: list[int] | None = None) -> Plan:
    """Read and validate a plan file (every variant's config is built once here); `epochs`/`seeds` override it."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    required, optional = {"base", "epochs", "seeds", "variants"}, {"same_g_updates"}
    if not required <= set(raw) <= required | optional:
        raise ConfigError(
            f"plan {path}: expected the keys {sorted(required)} (and optionally {sorted(optional)}), got {sorted(raw)}"
        )
    variants = raw["variants"]
    if not isinstance(variants, dict) or not variants or not all(isinstance(v, dict) for v in variants.values()):
        raise ConfigError(f"plan {path}: 'variants' must map each name to a mapping of config overrides")
    if not isinstance(raw.get("same_g_updates", False), bool):
        raise ConfigError(f"plan {path}: 'same_g_updates' must be true or false")
    plan = Plan(
        base=path.parent / raw["base"],
        epochs=int(raw["epochs"] if epochs is None else epochs),
        seeds=tuple(raw["seeds"] if seeds is None else seeds),
        variants={str(name): dict(changes) for name, changes in variants.items()},
        same_g_updates=raw.get("same_g_updates", False),
    )
    if len({c.dataset for c in plan.configs().values()}) != 1:
        raise ConfigError(f"plan {path}: all variants must train on the same dataset (their scores are compared)")
    return plan


def run_name(variant: str, seed: int) -> str:
    """File-name stem of one run, e.g. 'alternating-k-2-seed1'."""
    return f"{re.sub(r'[^a-z0-9]+', '-', variant.lower()).strip('-')}-seed{seed}"


def reference_features(mnist: MNIST) -> Tensor:
    """The reference classifier's features of the 10,000 MNIST test images, the target of every run's Fréchet distance."""
    return embed(load_classifier(), torch.from_numpy(mnist.test_x))[0]


def train_and_score(cfg: Config, variant: str, device: str, reference: Tensor | None) -> dict[str, Any]:
    """Train one run for cfg.epochs and return its record: the scores of its G (`mnist_scores` or `mixture_scores`),
    the time it took and its config."""
    mnist = load_mnist(cfg.data_dir) if cfg.dataset == "mnist" else None  # read once: trained on, then scored with
    trainer = Trainer(cfg, training_data(cfg, mnist), device)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.fit(progress=False)
    timing = {"train_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
    G = trainer.G.eval()
    scores = mixture_scores(G, cfg) if mnist is None else mnist_scores(G, cfg, mnist, reference)
    return {"variant": variant, "seed": cfg.seed, "epochs": cfg.epochs, "steps": trainer.step} | timing | scores | {
        "config": cfg.to_dict()
    }


def mnist_scores(G: torch.nn.Module, cfg: Config, mnist: MNIST, reference: Tensor | None) -> dict[str, Any]:
    """The Parzen protocol on cfg.eval_samples samples of G, and the Fréchet distance of the reference classifier's
    features of the same samples to `reference` (None: those of mnist's test images)."""
    protocol = ParzenProtocol(torch.from_numpy(mnist.valid_x), torch.from_numpy(mnist.test_x), cfg.eval_samples)
    samples = protocol.samples(G, cfg)
    reference = reference_features(mnist) if reference is None else reference
    classifier = load_classifier().to(samples.device)
    frechet = frechet_distance(embed(classifier, samples)[0], reference.to(samples.device))
    return protocol.evaluate(samples).to_dict() | {"frechet": frechet}


def mixture_scores(G: torch.nn.Module, cfg: Config) -> dict[str, Any]:
    """The mode metrics of MIXTURE_EVAL_SAMPLES samples of G (seed EVAL_SEED), and the first KEPT_SAMPLES of them
    (rounded to 0.01) for plotting."""
    x = generate(G, cfg, MIXTURE_EVAL_SAMPLES, EVAL_SEED).cpu().numpy()
    kept = np.round(x[:KEPT_SAMPLES].astype(np.float64), 2).tolist()
    return mode_scores(x, BENCHMARKS[cfg.dataset]()).to_dict() | {"samples": kept}


Job = tuple[Config, str, Path]


def run_plan(
    plan: Plan,
    out_dir: str | Path,
    device: str = "cpu",
    jobs: int = 1,
    progress: bool = True,
    cluster: str | None = None,
) -> None:
    """Every run of the plan that has no record in out_dir yet, seed by seed (an interrupted plan leaves whole seeds):
    here, `jobs` at a time (each in its own process), or on the Dask cluster whose scheduler listens at `cluster`.
    Each record is written here as soon as its run ends."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [
        (cfg, variant, out / f"{run_name(variant, seed)}.json")
        for (variant, seed), cfg in sorted(plan.configs().items(), key=lambda item: item[0][1])
        if not (out / f"{run_name(variant, seed)}.json").exists()
    ]
    if not todo:
        return
    first = todo[0][0]
    reference = reference_features(load_mnist(first.data_dir)) if first.dataset == "mnist" else None
    backend = _on_cluster(cluster) if cluster is not None else _here(jobs)
    with tqdm(total=len(todo), disable=not progress, unit="run", desc="ablations") as bar:
        for path, record in backend(todo, device, reference):
            write_json_atomic(path, record)
            bar.update()


Backend = Callable[[list[Job], str, Tensor | None], Iterator[tuple[Path, dict[str, Any]]]]


def _here(jobs: int) -> Backend:
    """Runs in this process (jobs = 1) or in a pool of `jobs` processes that share the cores evenly."""

    def run(todo: list[Job], device: str, reference: Tensor | None) -> Iterator[tuple[Path, dict[str, Any]]]:
        if jobs == 1:
            for cfg, variant, path in todo:
                yield path, train_and_score(cfg, variant, device, reference)
            return
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
        with ProcessPoolExecutor(
            jobs, mp_context=context, initializer=torch.set_num_threads, initargs=(threads,)
        ) as pool:
            futures = {
                pool.submit(train_and_score, cfg, variant, device, reference): path for cfg, variant, path in todo
            }
            yield from _completed(futures, as_completed(futures))

    return run


def _on_cluster(address: str) -> Backend:
    """Runs on the Dask cluster at `address`, each as one task; checked for a scheduler before anything trains."""
    client = connect(address)

    def run(todo: list[Job], device: str, reference: Tensor | None) -> Iterator[tuple[Path, dict[str, Any]]]:
        from distributed import as_completed as dask_completed

        with client:
            futures = {
                client.submit(train_and_score, cfg, variant, device, reference, pure=False): path
                for cfg, variant, path in todo
            }
            yield from _completed(futures, dask_completed(futures))

    return run


def connect(address: str) -> Any:
    """A `distributed.Client` of the scheduler at `address`, or a ClusterError that says what to do."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(
            '--cluster needs Dask distributed: pip install "gan_lib[dask]" (or drop --cluster to run here)'
        ) from None
    try:
        return Client(address, timeout=CLUSTER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(
            f"--cluster {address}: no Dask scheduler answered within {CLUSTER_TIMEOUT_S} s ({type(e).__name__}); "
            "start one (dask scheduler, then dask worker ADDRESS on each machine) or drop --cluster to run here"
        ) from None


def _completed(futures: dict[Any, Path], done: Iterable[Future]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for future in done:
        yield futures[future], future.result()


def summarise(plan: Plan, out_dir: str | Path, command: str) -> dict[str, Any]:
    """Per variant, the mean, sample standard deviation and bootstrap 95% interval of the mean over the seeds of each
    score, from the records in out_dir; written atomically to out_dir/summary.json with the command that made them."""
    out = Path(out_dir)
    variants, cpu_seconds = {}, 0.0
    for variant in plan.variants:
        runs = [json.loads((out / f"{run_name(variant, seed)}.json").read_text()) for seed in plan.seeds]
        scores = SCORES[runs[0]["config"]["dataset"]]
        variants[variant] = {"seeds": [r["seed"] for r in runs]} | {
            name: describe([r[key] for r in runs]) for name, key in scores.items()
        }
        cpu_seconds += sum(r.get("cpu_seconds", r["train_seconds"]) for r in runs)
    summary = {
        "command": command,
        "epochs": plan.epochs,
        "same_g_updates": plan.same_g_updates,
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "interval": 0.95},
        "cpu_seconds": cpu_seconds,
        "machine": machine(),
        "variants": variants,
    }
    write_json_atomic(out / SUMMARY, summary)
    return summary


def machine() -> dict[str, Any]:
    """torch's version, CPU kernels, threads and CPU model here: runs trained with all four the same are the same to the
    last digit (two CPU models with the same kernels, an Intel and an AMD with AVX-512, still round differently)."""
    return {
        "torch": str(torch.__version__),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
    }


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform reports."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def describe(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and the percentile bootstrap 95% interval of the mean of `values`."""
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "ci95": bootstrap_interval(values),
    }


def bootstrap_interval(
    values: list[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> list[float]:
    """Percentile bootstrap 95% interval of the mean: the 2.5th and 97.5th percentiles of the means of `resamples`
    resamples with replacement (drawn with a fixed seed, so the interval is reproducible)."""
    x = np.asarray(values, dtype=np.float64)
    means = x[np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))].mean(1)
    return [float(v) for v in np.percentile(means, [2.5, 97.5])]
