"""Tests for gan_lib.ablation: plan validation, one JSON file per run, resuming, the summary, the CLI, the 2-D plans
and the Dask backend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gan_lib.ablation import bootstrap_interval, cpu_name, load_plan, machine, run_plan, summarise
from gan_lib.cli import main
from gan_lib.config import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write_plan(folder: Path, mnist_folder: Path, variants: dict | None = None) -> Path:
    """A two-variant, two-seed plan on tiny nets (one epoch of MNIST, 200 samples for the scores)."""
    base = {"data_dir": str(mnist_folder), "g_hidden": [16], "d_hidden": [8, 8], "eval_samples": 200}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(base))
    plan = {
        "base": "tiny.yaml",
        "epochs": 1,
        "seeds": [0, 1],
        "variants": variants or {"recipe": {}, "minimax": {"g_loss": "minimax"}},
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_the_committed_plan_is_valid() -> None:
    plan = load_plan(REPO / "configs" / "ablations.yaml")
    configs = plan.configs()
    assert len(configs) == len(plan.variants) * 3 and plan.seeds == (0, 1, 2)
    recipe = configs[("recipe", 0)]
    assert configs[("minimax loss", 1)].replace(g_loss="nonsaturating", seed=0) == recipe
    assert configs[("no dropout in D", 2)].d_dropout is False and recipe.d_dropout is True


@pytest.mark.parametrize(
    "variants, match",
    [
        ({"bad": {"g_los": "minimax"}}, "variant 'bad'.*g_los"),
        ({"bad": {"k": 0}}, "'k'"),
        ({"bad": "minimax"}, "mapping"),
    ],
)
def test_bad_plans_name_the_problem(tmp_path: Path, mnist_folder: Path, variants: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_plan(write_plan(tmp_path, mnist_folder, variants))


def test_run_plan_writes_one_seeded_record_per_run_resumes_and_summarises(tmp_path: Path, mnist_folder: Path) -> None:
    plan = load_plan(write_plan(tmp_path, mnist_folder, {"minimax": {"g_loss": "minimax"}}))
    out = tmp_path / "out"
    run_plan(plan, out, progress=False)
    assert {p.name for p in out.glob("*.json")} == {"minimax-seed0.json", "minimax-seed1.json"}
    first = json.loads((out / "minimax-seed1.json").read_text())
    assert first["config"]["g_loss"] == "minimax" and first["seed"] == 1 and first["epochs"] == 1
    assert first["frechet"] > 0 and -2000 < first["parzen_mean"] < 300
    # a rerun trains only what is missing, and the same seed gives the same scores
    untouched = (out / "minimax-seed0.json").stat().st_mtime_ns
    (out / "minimax-seed1.json").unlink()
    run_plan(plan, out, progress=False)
    assert (out / "minimax-seed0.json").stat().st_mtime_ns == untouched
    again = json.loads((out / "minimax-seed1.json").read_text())
    assert (again["parzen_mean"], again["frechet"]) == (first["parzen_mean"], first["frechet"])
    summary = summarise(plan, out, "cmd")
    scores = [json.loads((out / f"minimax-seed{s}.json").read_text())["parzen_mean"] for s in (0, 1)]
    assert scores[0] != scores[1]
    assert summary["variants"]["minimax"]["parzen"]["mean"] == pytest.approx(sum(scores) / 2)
    assert summary["variants"]["minimax"]["parzen"]["std"] == pytest.approx(abs(scores[0] - scores[1]) / 2**0.5)
    assert json.loads((out / "summary.json").read_text()) == summary and summary["command"] == "cmd"


def test_cli_ablate_with_two_jobs(tmp_path: Path, mnist_folder: Path, capsys: pytest.CaptureFixture) -> None:
    plan = write_plan(tmp_path, mnist_folder, {"recipe": {}})
    assert main(["ablate", str(plan), "--seeds", "0", "1", "--jobs", "2", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads(Path(printed["summary"]).read_text())
    assert printed["runs"] == 2 and summary["variants"]["recipe"]["seeds"] == [0, 1]
    assert summary["command"].startswith("python -m gan_lib ablate") and "--jobs 2" in summary["command"]


# --- the 2-D plans and the Dask backend ----------------------------------------------------------


def write_2d_plan(folder: Path, variants: dict | None = None) -> Path:
    """A two-seed plan on the ring with tiny nets: two epochs of two minibatches per run."""
    base = {"dataset": "ring", "toy_n": 200, "noise_dim": 2, "g_hidden": [8], "d_hidden": [4], "optimizer": "adam",
            "lr": 0.001}
    (folder / "tiny2d.yaml").write_text(yaml.safe_dump(base))
    plan = {"base": "tiny2d.yaml", "epochs": 2, "same_g_updates": True, "seeds": [0, 1],
            "variants": variants or {"recipe": {}, "alternating, k = 2": {"update": "alternating", "k": 2}}}
    path = folder / "plan2d.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


TIMING = ("train_seconds", "cpu_seconds")


def records(folder: Path) -> dict[str, dict]:
    """The run records of a folder by file name, without their timings."""
    return {
        p.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in TIMING}
        for p in sorted(folder.glob("*-seed*.json"))
    }


def test_the_committed_2d_plans_change_one_ingredient_each() -> None:
    for benchmark in ("ring", "grid"):
        plan = load_plan(REPO / "configs" / f"ablations_{benchmark}.yaml")
        configs = plan.configs()
        assert plan.seeds == tuple(range(10)) and plan.same_g_updates
        recipe = configs[("recipe", 0)].to_dict()
        assert recipe["dataset"] == benchmark and recipe["epochs"] == 30
        expected = {
            "recipe": set(),
            "minimax loss": {"g_loss"},
            "alternating, k = 1": {"update"},
            "alternating, k = 5": {"update", "k"},
            "no dropout in D": {"d_dropout"},
            "ReLU D": {"d_arch"},
            "Gaussian noise": {"noise"},
            "gradient rescaling": {"scale_grads"},
            "Pylearn2 momentum SGD": {"optimizer", "lr"},  # the optimiser with its own step size
        }
        for (variant, seed), cfg in configs.items():
            assert {k for k, v in cfg.to_dict().items() if recipe[k] != v} - {"seed", "epochs"} == expected[variant]
        assert configs[("alternating, k = 5", 3)].epochs == 150  # five times the minibatches, the same G updates
        assert configs[("Pylearn2 momentum SGD", 0)].optimizer == "sgd"


def test_a_2d_run_records_its_mode_scores_and_samples(tmp_path: Path) -> None:
    plan = load_plan(write_2d_plan(tmp_path))
    run_plan(plan, tmp_path / "out", progress=False)
    record = json.loads((tmp_path / "out" / "alternating-k-2-seed1.json").read_text())
    assert record["steps"] == 8 and record["epochs"] == 4  # k = 2: twice the epochs, as many G updates as the recipe
    assert 0 <= record["covered"] <= record["touched"] <= 8 and 0 <= record["high_quality"] <= 1
    assert 0 <= record["kl"] <= math.log(8) + 1e-12
    assert len(record["samples"]) == 200 and all(len(p) == 2 for p in record["samples"])
    summary = summarise(plan, tmp_path / "out", "cmd")
    kl = [json.loads((tmp_path / "out" / f"recipe-seed{s}.json").read_text())["kl"] for s in (0, 1)]
    entry = summary["variants"]["recipe"]["kl"]
    assert entry["mean"] == pytest.approx(sum(kl) / 2)
    assert entry["ci95"][0] == pytest.approx(min(kl)) and entry["ci95"][1] == pytest.approx(max(kl))


def test_bootstrap_interval_of_the_mean() -> None:
    values = list(np.random.default_rng(1).normal(3.0, 1.0, size=40))
    low, high = bootstrap_interval(values)
    half = 1.96 * np.std(values, ddof=1) / np.sqrt(40)  # the normal approximation it must be close to
    assert low < np.mean(values) < high
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert bootstrap_interval(values) == [low, high]  # the fixed seed: the same interval every time
    assert bootstrap_interval([2.0] * 10) == [2.0, 2.0]


def test_the_same_plan_on_a_dask_cluster_gives_the_same_records_resumes_and_summary(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    plan = load_plan(write_2d_plan(tmp_path))
    run_plan(plan, tmp_path / "local", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        run_plan(plan, tmp_path / "dask", progress=False, cluster=address)
        assert records(tmp_path / "dask") == records(tmp_path / "local") and len(records(tmp_path / "local")) == 4
        # resume: only the missing record is trained again
        kept = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "dask").glob("*.json")}
        (tmp_path / "dask" / "recipe-seed1.json").unlink()
        run_plan(plan, tmp_path / "dask", progress=False, cluster=address)
        after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "dask").glob("*.json")}
        assert {name for name in after if after[name] != kept.get(name)} == {"recipe-seed1.json"}
        assert records(tmp_path / "dask") == records(tmp_path / "local")
        workers = {w["id"] for w in cluster.scheduler_info["workers"].values()}
        assert len(workers) == 2

    def same(folder: str) -> dict:
        return {k: v for k, v in summarise(plan, tmp_path / folder, "cmd").items() if k != "cpu_seconds"}

    assert same("dask") == same("local")


def test_cluster_without_a_scheduler_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("distributed")
    plan = write_2d_plan(tmp_path)
    code = main(["ablate", str(plan), "--cluster", "tcp://127.0.0.1:1", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: --cluster tcp://127.0.0.1:1: no Dask scheduler answered") and "drop --cluster" in err
    assert not list((tmp_path / "o").glob("*.json"))


def test_machine_names_the_cpu_model_beside_torch_kernels_and_threads() -> None:
    # Two CPU models with the same kernels round differently, so a record must name the model to be compared bitwise.
    here = machine()
    assert set(here) == {"torch", "cpu_capability", "threads", "cpu"}
    assert here["cpu"] == cpu_name() and here["cpu"].strip() and here["threads"] == torch.get_num_threads()
