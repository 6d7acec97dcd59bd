"""Tests for gan_lib.resources: committed files found in a clone, or downloaded and checksummed outside one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan_lib import resources
from gan_lib.resources import ResourceError, build_manifest, manifest, resource

REPO = Path(__file__).resolve().parents[1]


def test_manifest_lists_every_committed_resource_with_its_checksum() -> None:
    assert manifest() == build_manifest(REPO), "resources changed: run `python -m gan_lib.resources` and commit"
    assert "configs/mnist_paper.yaml" in manifest()


def test_in_a_clone_resources_are_the_files_of_the_clone() -> None:
    assert resources.repository_root() == REPO
    assert resource("configs/mnist_paper.yaml") == REPO / "configs" / "mnist_paper.yaml"


@pytest.fixture
def outside_a_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No clone around; downloads come from this repository through file:// URLs into a fresh cache."""
    monkeypatch.setattr(resources, "repository_root", lambda: None)
    monkeypatch.setattr(resources, "RAW_BASE", REPO.as_uri() + "/")
    monkeypatch.setenv(resources.ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_outside_a_clone_a_resource_is_downloaded_once_and_checked(outside_a_clone: Path) -> None:
    path = resource("configs/mnist_paper.yaml")
    assert path == outside_a_clone / "configs" / "mnist_paper.yaml"
    assert path.read_bytes() == (REPO / "configs" / "mnist_paper.yaml").read_bytes()
    resources.RAW_BASE = "file:///nonexistent/"  # a second call reads the cache (the fixture undoes this)
    assert resource("configs/mnist_paper.yaml") == path


def test_a_download_with_the_wrong_checksum_is_refused_and_leaves_nothing(
    outside_a_clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "manifest", lambda: {"configs/mnist_paper.yaml": "0" * 64})
    with pytest.raises(ResourceError, match="SHA-256"):
        resource("configs/mnist_paper.yaml")
    assert [p for p in outside_a_clone.rglob("*") if p.is_file()] == []


def test_unknown_or_unreachable_resources_are_clear_errors(outside_a_clone: Path, monkeypatch) -> None:
    with pytest.raises(ResourceError, match="not a gan_lib resource"):
        resource("configs/no_such.yaml")
    monkeypatch.setattr(resources, "RAW_BASE", "file:///nonexistent/")
    with pytest.raises(ResourceError, match="cannot download"):
        resource("configs/mnist_paper.yaml")
