"""Files: atomic writes (a reader sees the old file or the complete new one, never half of one), the lock that gives
one process a run folder, and the errors of files that cannot be written or used; each error names the file."""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

LOCK_NAME = ".lock"
TEMP_SUFFIX = ".tmp"  # write_atomic's temp files are .<name>.<random>.tmp beside the file they become


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used; the message names the file and what to do."""


class WriteError(OSError):
    """A file or folder that cannot be written (read-only or missing folder, full disk, size limit); names it."""


class FolderInUseError(RuntimeError):
    """A run folder that another live process holds (see `folder_lock`)."""


_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or choose another folder",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another folder",
    errno.EFBIG: "the file-size limit (ulimit -f) is too small for it; raise the limit or choose another folder",
    errno.EACCES: "no permission to write there; choose a writable folder",
    errno.EPERM: "no permission to write there; choose a writable folder",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EEXIST: "a file of that name is in the way of a folder; choose another path",
    errno.EISDIR: "it is a folder; name a file",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (often 255 bytes); shorten it",
}


def write_error(path: Path, error: OSError) -> WriteError:
    """A WriteError for `path` that says what went wrong (the OS's words) and what to do."""
    hint = _HINTS.get(error.errno or 0, "check the path and the disk")
    failure = WriteError(f"cannot write {path}: {error.strerror or error} ({hint})")
    failure.errno = error.errno  # not an argument: OSError would print it as "[Errno N] ..." in front
    return failure


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file through `write` into a temp file beside `path`, fsync, then os.replace: a crash or an error
    never leaves a half-written file, and an existing file is only ever replaced by a complete one. An OSError
    becomes a WriteError naming `path`; the temp file goes either way (`remove_temp_files` deletes one that a
    killed process left)."""
    path = Path(path)
    if path.is_dir():
        raise write_error(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, e) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save, atomically (see `write_atomic`). Through memory (`_write_serialised`): torch's own file writer
    reports a full disk or a size limit as a bare RuntimeError."""
    _write_serialised(path, lambda buffer: torch.save(obj, buffer))


def save_array_atomic(array: np.ndarray, path: Path) -> None:
    """np.save, atomically (see `write_atomic`). Through memory (`_write_serialised`): numpy's own file writer reports
    a full disk or a size limit as 'N requested and M written', without the reason."""
    _write_serialised(path, lambda buffer: np.save(buffer, array))


def _write_serialised(path: Path, serialise: Callable[[io.BytesIO], None]) -> None:
    """Serialise into memory first, then `write_atomic` the bytes, so that a failed write is the plain OSError it is
    (and so a WriteError naming `path` with the reason), not a serialiser's own message."""
    buffer = io.BytesIO()
    serialise(buffer)
    write_atomic(path, lambda f: f.write(buffer.getbuffer()))


def write_json_atomic(path: Path, obj: Any) -> None:
    """`obj` as indented JSON, atomically (see `write_atomic`)."""
    write_atomic(path, lambda f: f.write(json.dumps(obj, indent=1).encode()))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- run folders

_held: dict[Path, int] = {}  # folders this process holds -> how many nested folder_lock blocks hold each


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold `folder` (created if needed) for this process: an exclusive flock on folder/.lock, which holds this
    process's id. A second process gets a FolderInUseError at once; the lock dies with its process, so one left by
    a killed run never blocks the next. Taking it also checks that the folder is writable (a WriteError otherwise).
    Nested blocks in one process share it."""
    folder = Path(folder)
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    fd = _lock(folder)
    _held[key] = 1
    try:
        yield folder
    finally:
        del _held[key]
        (folder / LOCK_NAME).unlink(missing_ok=True)  # before closing: a waiting process then sees a new file
        os.close(fd)


def check_writable(folder: Path) -> None:
    """A WriteError naming `folder` unless it exists or can be made, and takes new files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # a nameless file (O_TMPFILE): nothing stays, even after a kill
            pass
    except OSError as e:
        raise write_error(folder, e) from e


def _lock(folder: Path) -> int:
    """An fd of folder/.lock with an exclusive flock on it, after checking that the folder takes new files."""
    path = folder / LOCK_NAME
    check_writable(folder)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise write_error(path, e) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(
                f"{folder} is in use by another gan_lib run (process {holder}); wait for it to finish, "
                "or choose another output folder"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the holder removed the file between our open and flock: lock the new one
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def remove_temp_files(folder: Path, pattern: str) -> None:
    """Delete the temp files that `write_atomic` left, when its process was killed mid-write, beside the files
    matching `pattern` (a glob under `folder`, e.g. "checkpoint.pt" or "generators/epoch*.pt"). Only for a folder
    this process holds (`folder_lock`): another process's temp files would be in the middle of being written."""
    parent, _, name = pattern.rpartition("/")
    for tmp in (folder / parent).glob(f".{name}.*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
