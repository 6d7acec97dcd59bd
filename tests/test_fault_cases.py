"""scripts/fault_cases.py, the harness of hostile CLI uses, stays runnable and keeps judging: three cheap cases end
to end, and its verdicts on made-up results."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

SCRIPT = REPO / "scripts" / "fault_cases.py"
spec = importlib.util.spec_from_file_location("fault_cases", SCRIPT)
fault_cases = importlib.util.module_from_spec(spec)
sys.modules["fault_cases"] = fault_cases  # dataclasses look their module up there
spec.loader.exec_module(fault_cases)


def test_three_cheap_cases_end_to_end() -> None:
    only = "^command line: (--version|--n abc|a misspelt subcommand)"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "3", "--only", only],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split(" | ") for line in result.stdout.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [(row[2], row[4].rstrip(" |")) for row in rows] == [
        ("a misspelt subcommand (trian)", "clear error"),
        ("--n abc", "clear error"),
        ("--version", "correct"),
    ]
    assert "3 cases in" in result.stdout and "all as expected" in result.stdout


def test_the_registry_covers_every_category() -> None:
    categories = {c.category for c in fault_cases.CASES}
    assert len(fault_cases.CASES) >= 103
    assert categories == {"data", "config", "checkpoint", "resume", "divergence", "concurrency", "os", "command line"}
    assert len({c.title for c in fault_cases.CASES}) == len(fault_cases.CASES)


@pytest.mark.parametrize(
    "rc, err, names, verdict",
    [
        (2, "resuming\nerror: config key 'lr': must be > 0\n", ["'lr'"], "clear error"),
        (2, "usage: ...\npython -m gan_lib: error: invalid choice: 'trian'\n", ["trian"], "clear error"),
        (2, "error: something went wrong\n", ["'lr'"], fault_cases.Wrong),
        (1, "Traceback (most recent call last):\nValueError: x\n", [], fault_cases.Wrong),
        (0, "", [], fault_cases.Wrong),
    ],
)
def test_clear_error_verdicts(rc: int, err: str, names: list[str], verdict: object) -> None:
    result = fault_cases.Result(rc, "", err)
    if isinstance(verdict, str):
        assert fault_cases.clear_error(result, *names) == verdict
    else:
        with pytest.raises(verdict):
            fault_cases.clear_error(result, *names)


def test_a_traceback_anywhere_in_a_case_fails_it(tmp_path: Path) -> None:
    def body(t: fault_cases.Trial) -> str:
        t.record(fault_cases.Result(2, "", "Traceback (most recent call last):\nKeyError: 'step'\nerror: x\n"))
        return fault_cases.CLEAR

    case = fault_cases.Case(1, "resume", "made up", fault_cases.CLEAR, body)
    outcome, note, _ = fault_cases.run_case(case, tmp_path, fault_cases.Fixtures(tmp_path / "fixtures"))
    assert (outcome, note) == (fault_cases.TRACEBACK, "error: x")
