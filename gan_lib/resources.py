"""Files the project commits beside the package (configs, trained generators, run logs, ablation records), found
without the working directory: read where they lie in a clone, else downloaded once from the repository into the
per-user cache and checked against the SHA-256 that this version of gan_lib ships in ``assets/resources.json``."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from http.client import HTTPException
from pathlib import Path

REPOSITORY = "https://github.com/gan-derived/gan-derived-reproduced"
RAW_BASE = "https://raw.githubusercontent.com/gan-derived/gan-derived-reproduced/main/"
MANIFEST = Path(__file__).parent / "assets" / "resources.json"
#: Folders of the repository whose files are resources (every file below them is listed in the manifest).
FOLDERS: tuple[str, ...] = ("configs", "checkpoints", "benchmarks/results", "results")
ENV_VAR = "GAN_LIB_RESOURCES_DIR"
TIMEOUT_S = 60.0


class ResourceError(Exception):
    """A resource that is not listed, cannot be downloaded, or does not match its checksum; the message says which."""


def repository_root() -> Path | None:
    """The clone this gan_lib is imported from (the folder above the package that holds ``_toc.yml``), or None."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "_toc.yml").is_file() and (root / "configs").is_dir() else None


def cache_dir() -> Path:
    """Where downloaded resources go: $GAN_LIB_RESOURCES_DIR, else ~/.cache/gan_lib/resources."""
    if env := os.environ.get(ENV_VAR):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "gan_lib" / "resources"


def manifest() -> dict[str, str]:
    """Repository-relative path -> SHA-256 of every resource this version of gan_lib knows."""
    return json.loads(MANIFEST.read_text())


def resource(name: str) -> Path:
    """The local path of a committed file such as ``"configs/mnist_paper.yaml"``: in the clone if there is one,
    else in the cache, downloaded (and SHA-256-checked) on first use."""
    name = Path(name).as_posix()
    root = repository_root()
    if root is not None and (root / name).is_file():
        return root / name
    known = manifest()
    if name not in known:
        raise ResourceError(f"{name} is not a gan_lib resource; known: {', '.join(sorted(known))}")
    path = cache_dir() / name
    if not (path.is_file() and _sha256(path) == known[name]):
        _download(RAW_BASE + name, path, known[name])
    return path


def build_manifest(root: Path) -> dict[str, str]:
    """The manifest of a clone: every file below FOLDERS (hidden files excepted) with its SHA-256, sorted by path."""
    files = sorted(p for folder in FOLDERS for p in (root / folder).rglob("*") if p.is_file())
    return {
        p.relative_to(root).as_posix(): _sha256(p)
        for p in files
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, dest: Path, sha256: str) -> None:
    """Fetch `url` into a temp file beside `dest`, renamed over it only once its SHA-256 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ResourceError(
                f"{url} served a file with SHA-256 {digest.hexdigest()}, expected {sha256}: the repository has moved on "
                "since this gan_lib was installed; install the matching version of gan_lib"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except (OSError, HTTPException) as e:
        Path(tmp).unlink(missing_ok=True)
        raise ResourceError(f"cannot download {url} into {dest}: {e}; check the network, or work in a clone") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":  # python -m gan_lib.resources: rewrite the manifest from this clone
    clone = repository_root()
    if clone is None:
        sys.exit("error: python -m gan_lib.resources rewrites the manifest of a clone; run it inside one")
    MANIFEST.write_text(json.dumps(build_manifest(clone), indent=1) + "\n")
    print(f"{MANIFEST}: {len(manifest())} files")
