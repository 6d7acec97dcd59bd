"""Tests for gan_lib.ablation: plan validation, one JSON file per run, resuming, the summary and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gan_lib.ablation import load_plan, run_plan, summarise
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
