"""Tests for gan_lib.files: atomic writes and their errors, the run-folder lock, removing a killed writer's temp files."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gan_lib.files import LOCK_NAME, WriteError, folder_lock, remove_temp_files, write_atomic, write_json_atomic


@pytest.mark.parametrize(
    "code, hint",
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EFBIG, "ulimit -f"),
        (errno.EROFS, "read-only"),
        (errno.EIO, "disk"),
        (errno.ENAMETOOLONG, "255 bytes"),
    ],
)
def test_a_failed_write_is_a_write_error_naming_the_file_and_keeps_the_old_one(
    code: int, hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.json"
    write_json_atomic(path, {"old": 1})

    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(WriteError) as e:
        write_json_atomic(path, {"new": 2})
    assert isinstance(e.value, OSError) and e.value.errno == code
    assert str(path) in str(e.value) and os.strerror(code) in str(e.value) and hint in str(e.value)
    assert path.read_text() == '{\n "old": 1\n}' and os.listdir(tmp_path) == ["a.json"]


def test_writing_onto_a_folder_or_under_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for path, hint in [(tmp_path, "it is a folder"), (a_file / "x.json", "in the way of a folder")]:
        with pytest.raises(WriteError, match=hint) as e:
            write_atomic(path, lambda f: f.write(b"data"))
        assert str(path) in str(e.value)
    assert sorted(os.listdir(tmp_path)) == ["f"] and a_file.read_text() == "x"


def test_folder_lock_holds_the_pid_nests_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with folder_lock(out) as held:
        assert held == out and (out / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with folder_lock(tmp_path / "x" / ".." / "run"):  # the same folder, by another path: shared
            pass
        assert (out / LOCK_NAME).exists()
    assert os.listdir(out) == []


def test_remove_temp_files_takes_only_those_of_the_named_files(tmp_path: Path) -> None:
    (tmp_path / "generators").mkdir()
    doomed = [tmp_path / ".checkpoint.pt.ab12cd34.tmp", tmp_path / "generators" / ".epoch0010_G.pt.zz99yy88.tmp"]
    kept = [
        tmp_path / ".notes.txt.ab12cd34.tmp",
        tmp_path / "checkpoint.pt",
        tmp_path / "generators" / "epoch0010_G.pt",
    ]
    for path in doomed + kept:
        path.write_bytes(b"x")
    remove_temp_files(tmp_path, "checkpoint.pt")
    remove_temp_files(tmp_path, "generators/epoch*.pt")
    assert [p.exists() for p in doomed] == [False, False] and all(p.exists() for p in kept)
