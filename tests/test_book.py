"""Tests for how the book is built, published and run: the Pages workflow builds exactly as `make book` does, CI runs
the notebooks twice, and every chapter runs outside a clone after its install cell."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pybtex.database
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
INSTALL_CELL = """\
# Outside a clone of this book's repository (Colab, Binder, a downloaded notebook) this installs gan_lib first.
import importlib.util

if importlib.util.find_spec("gan_lib") is None:
    %pip install --quiet "gan_lib @ git+https://github.com/gan-derived/gan-derived-reproduced"
"""
#: Modules a notebook may import without gan_lib declaring them: the kernel's own.
KERNEL_MODULES = {"IPython", "ipykernel"}


def chapters() -> list[Path]:
    """Every notebook the table of contents lists."""
    toc = (ROOT / "_toc.yml").read_text()
    return [ROOT / f"{name}.ipynb" for name in re.findall(r"file:\s*(\S+)", toc) if (ROOT / f"{name}.ipynb").exists()]


def make_dry_run(target: str) -> list[str]:
    """The shell commands `make <target>` would run, as make itself expands them."""
    out = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target, "PYTHON=python"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def workflow_steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["build"]["steps"]


def run_lines(steps: list[dict]) -> list[str]:
    return [line.strip() for step in steps for line in step.get("run", "").splitlines() if line.strip()]


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


# --- the Pages workflow and the Makefile ---------------------------------------------------------


@needs_make
def test_pages_workflow_builds_the_book_with_make_book_and_publishes_its_output() -> None:
    lines = run_lines(workflow_steps())
    builds = [shlex.split(line) for line in lines if "make" in shlex.split(line)]
    assert len(builds) == 1, f"{WORKFLOW}: expected one `make book` step, found {builds}"
    words = [w for w in builds[0] if "=" not in w]  # variable assignments such as PYTHON=python are allowed
    assert words == ["make", "book"], f"{WORKFLOW}: the build step must run `make book`, not {builds[0]}"
    assert not [line for line in lines if "jupyter" in line or "sphinx" in line], "the workflow must build only via make"
    assert not [line for line in lines if "mnist" in line.lower()], "nothing runs at build time; no MNIST download"

    build = make_dry_run("book")[-1]
    assert "jupyter_book.cli.main" in build and " build . " in f"{build} " and "--path-output" not in build
    (upload,) = [s for s in workflow_steps() if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload["with"]["path"] == "_build/html"  # where `jupyter-book build .` writes the HTML


@needs_make
def test_workflow_installs_the_torch_that_make_pins() -> None:
    """The workflow puts the CPU build of torch in first; make's own pin must then already be satisfied by it."""
    pinned = {m for line in make_dry_run("install") for m in re.findall(r"torch==(\S+)", line)}
    preinstalled = {m for line in run_lines(workflow_steps()) for m in re.findall(r"torch==(\S+)", line)}
    assert len(pinned) == 1 and preinstalled == pinned


@needs_make
def test_make_test_runs_nbval_and_builds_like_make_book() -> None:
    commands = make_dry_run("test")
    native, portable = [c for c in commands if "--nbval" in c]  # both modes, this CPU's kernels first
    assert "OMP_NUM_THREADS=1" in native and "ATEN_CPU_CAPABILITY" not in native
    assert "ATEN_CPU_CAPABILITY=default" in portable and "OMP_NUM_THREADS=2" in portable
    assert any(re.search(r"-m pytest tests\b", c) for c in commands)
    assert commands[-1] == make_dry_run("book")[-1]
    assert commands[:2] == make_dry_run("install")


def test_ci_runs_the_readme_test_command() -> None:
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test" and "set -euo pipefail" in ci
    assert "make test" in (ROOT / "README.md").read_text()


@needs_make
def test_a_pytest_run_that_collects_nothing_fails_with_a_message() -> None:
    nothing = "NBVAL=tests/test_book.py -k no_such_test"
    out = subprocess.run(
        ["make", "--no-print-directory", "nbval", f"PYTHON={sys.executable}", nothing],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert out.returncode != 0
    assert "collected no tests from: tests/test_book.py -k no_such_test" in out.stderr


# --- chapters run anywhere -----------------------------------------------------------------------


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


#: The chapters that already run outside a clone (install cell, files through gan_lib.resources); all of them, in time.
LAUNCHABLE = (
    "original_code", "adversarial_game", "proposition1", "theorem1", "proposition2", "saturation",
    "table1", "samples", "beyond_table1", "performance", "ingredients",
)


def launchable() -> list[Path]:
    return [p for p in chapters() if p.stem in LAUNCHABLE]


@pytest.mark.parametrize("path", launchable(), ids=lambda p: p.stem)
def test_chapter_starts_with_the_install_cell(path: Path) -> None:
    first = code_cells(path)[0]
    assert "".join(first["source"]).strip() == INSTALL_CELL.strip(), f"{path.name}: the first code cell must be BOOK.md's"
    assert "remove-cell" in first["metadata"].get("tags", [])


def test_the_book_shows_committed_outputs_and_runs_nothing_at_build_time() -> None:
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["execute_notebooks"] == "off"


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_is_committed_executed_in_order(path: Path) -> None:
    """Every code cell ran (so the page shows its outputs), top to bottom in one kernel."""
    counts = [cell["execution_count"] for cell in code_cells(path)]
    assert None not in counts, f"{path.name}: cells {[i for i, c in enumerate(counts) if c is None]} were not run"
    assert counts == sorted(counts) and len(set(counts)) == len(counts), f"{path.name}: cells ran out of order"


@pytest.mark.parametrize("path", launchable(), ids=lambda p: p.stem)
def test_chapter_finds_files_without_the_working_directory(path: Path) -> None:
    for cell in code_cells(path):
        source = "".join(cell["source"])
        for pattern in ("Path.cwd", "os.getcwd", '"../', "'../", "chdir("):
            assert pattern not in source, f"{path.name}: {pattern} (use gan_lib.resources.resource)"


def declared_modules() -> set[str]:
    """Top-level modules provided by gan_lib's own dependencies (not its optional extras)."""
    block = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.MULTILINE | re.DOTALL)
    requirements = re.findall(r'^\s*"([^"]+)"', block.group(1), re.MULTILINE)
    names = {re.split(r"[\s<>=!~\[;@]", req, maxsplit=1)[0].lower().replace("_", "-") for req in requirements}
    return {
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if any(d.lower().replace("_", "-") in names for d in dists)
    }


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_imports_only_what_installing_gan_lib_provides(path: Path) -> None:
    allowed = declared_modules() | KERNEL_MODULES | set(sys.stdlib_module_names) | {"gan_lib"}
    for cell in code_cells(path):
        source = TransformerManager().transform_cell("".join(cell["source"]))  # magics become get_ipython() calls
        for node in ast.walk(ast.parse(source)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}, which gan_lib does not depend on"


def test_binder_installs_cpu_torch_and_gan_lib() -> None:
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in requirements and re.search(r"^torch==", requirements, re.MULTILINE)
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post_build)
    launch = yaml.safe_load((ROOT / "_config.yml").read_text())["launch_buttons"]
    assert launch["binderhub_url"] and launch["colab_url"]


# --- references ----------------------------------------------------------------------------------


def test_references_are_labelled_as_the_text_cites_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The References page's labels are author-year, as `{cite:p}` writes them; a clash gets a letter."""
    monkeypatch.syspath_prepend(str(ROOT / "_ext"))
    module = importlib.import_module("author_year_labels")
    entries = pybtex.database.parse_file(ROOT / "references.bib").entries
    keys = ["lin1991divergence", "boyd2004convex", "kynkaanniemi2019improved", "goodfellow2014gan",
            "goodfellow2013maxout", "goodfellow2013pylearn2"]
    assert list(module.AuthorYearLabelStyle().format_labels(entries[k] for k in keys)) == [
        "Lin, 1991", "Boyd and Vandenberghe, 2004", "Kynkäänniemi et al., 2019", "Goodfellow et al., 2014",
        "Goodfellow et al., 2013a", "Goodfellow et al., 2013b",
    ]


def test_the_launch_menu_shows_colab_as_a_vector_icon(monkeypatch: pytest.MonkeyPatch) -> None:
    """The theme's Colab PNG is swapped for the SVG the extension ships; other buttons are left as they are."""
    monkeypatch.syspath_prepend(str(ROOT / "_ext"))
    module = importlib.import_module("launch_icons")
    colab = {"text": "Colab", "icon": "_static/images/logo_colab.png"}
    binder = {"text": "Binder", "icon": "_static/images/logo_binder.svg"}
    context = {"header_buttons": [{"label": "launch-buttons", "buttons": [binder, colab]}, {"icon": "fas fa-code"}]}
    module.use_vector_icons(None, "page", "page.html", context, None)
    assert colab["icon"] == module.VECTOR_ICON and binder["icon"] == "_static/images/logo_binder.svg"
    assert (ROOT / "_ext" / "static" / Path(module.VECTOR_ICON).name).is_file()
