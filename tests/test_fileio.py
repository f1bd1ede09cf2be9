"""Atomic writes on a filesystem that fails: one InputError line, nothing left half-written."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from medgen.exceptions import InputError
from medgen.fileio import (
    atomic_directory,
    check_overwrite,
    make_folder,
    read_text,
    remove_stale,
    reserve,
    write_bytes_atomic,
)


def failing(code: int) -> Callable[..., Any]:
    """A stand-in for an os function that fails with errno `code`."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_full_disk_inside_an_atomic_folder_is_one_input_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "data"
    with pytest.raises(InputError) as error, atomic_directory(out) as tmp:
        (tmp / "a.bin").write_bytes(b"x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert error.value.what == str(out)
    assert error.value.problem == "cannot be written: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_file_write_names_the_file_as_the_user_knows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("old")
    monkeypatch.setattr(os, "fsync", failing(errno.ENOSPC))
    with (
        pytest.raises(InputError) as error,
        atomic_directory(tmp_path / "data", overwrite=True) as tmp,
    ):
        write_bytes_atomic(tmp / "new.json", b"{}")
    assert error.value.what == str(tmp_path / "data" / "new.json")
    assert error.value.problem == "cannot be written: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["keep.txt"]


def test_a_read_only_folder_is_one_input_error_naming_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = os.mkdir

    def read_only_mkdir(path: Any, mode: int = 0o777, **kwargs: Any) -> None:
        if os.path.lexists(path):  # the kernel says EEXIST before EROFS
            real_mkdir(path, mode)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    with pytest.raises(InputError) as error, atomic_directory(tmp_path / "data"):
        pass
    assert error.value.what == str(tmp_path / "data")
    assert error.value.problem == "cannot be written: Read-only file system"


def test_a_file_in_the_way_is_named_and_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(InputError) as error, atomic_directory(tmp_path / "file" / "data"):
        pass
    assert error.value.what == str(tmp_path / "file")
    assert "is not a folder" in error.value.problem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_failed_atomic_file_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", failing(errno.EDQUOT))
    with pytest.raises(InputError, match=r"out\.json: cannot be written: Disk quota exceeded"):
        write_bytes_atomic(tmp_path / "out.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_temporary_folders_of_dead_processes_go_and_those_of_live_ones_stay(
    tmp_path: Path,
) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = dead_pid()
        for pid in (dead, live.pid):
            (tmp_path / f".data.tmp-{pid}").mkdir()
            (tmp_path / f".data.tmp-{pid}" / "images.npy").write_bytes(b"half")
        (tmp_path / f".data.old-{dead}").mkdir()  # killed between its two renames
        (tmp_path / f".other.tmp-{dead}").mkdir()  # another output's: not this run's business
        remove_stale(tmp_path / "data")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert f".data.tmp-{dead}" not in left and f".data.tmp-{live.pid}" in left
        assert f".data.old-{dead}" in left, "the only copy of data: kept while data is missing"
        for overwrite in (False, True):  # the first run makes data, the next one finds it
            with atomic_directory(tmp_path / "data", overwrite=overwrite) as tmp:
                (tmp / "manifest.json").write_text("{}")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted(["data", f".data.tmp-{live.pid}", f".other.tmp-{dead}"])
    finally:
        live.kill()
        live.wait()


def test_reserve_allocates_the_blocks_with_or_without_fallocate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 3 << 20
    for name, fallocate in (("native", os.posix_fallocate), ("fallback", None)):
        path = tmp_path / name
        path.write_bytes(b"head")
        os.truncate(path, size)  # sparse: no blocks behind the zeros
        if fallocate is None:
            monkeypatch.setattr(os, "posix_fallocate", failing(errno.EOPNOTSUPP))
        reserve(path, 4, size - 4)
        assert path.stat().st_size == size and path.read_bytes()[:4] == b"head"
        assert path.stat().st_blocks * 512 >= size, name
    monkeypatch.setattr(os, "posix_fallocate", failing(errno.ENOSPC))
    with pytest.raises(OSError) as error:
        reserve(tmp_path / "native", 0, size)
    assert error.value.errno == errno.ENOSPC


def test_overwrite_replaces_only_an_artifact_of_the_same_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def check(out: Path, overwrite: bool = True) -> None:
        check_overwrite(out, overwrite, "manifest.json", "medgen-slices")

    check(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check(tmp_path / "empty")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text('{"format": "medgen-slices"}')
    check(tmp_path / "data")
    with pytest.raises(InputError, match="already exists"):
        check(tmp_path / "data", overwrite=False)
    (tmp_path / "file").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text('{"format": "medgen-features"}')
    (tmp_path / "link").symlink_to(tmp_path / "data")
    for name in ("file", "mine", "run", "link"):
        with pytest.raises(InputError, match="is not a medgen-slices folder") as error:
            check(tmp_path / name)
        assert error.value.what == str(tmp_path / name)
    monkeypatch.chdir(tmp_path / "data")
    for here in (Path("."), tmp_path):
        with pytest.raises(InputError, match="is the current folder or holds it"):
            check(here)


def test_overwrite_by_another_key_tells_the_kinds_of_one_format_apart(tmp_path: Path) -> None:
    (tmp_path / "den").mkdir()
    (tmp_path / "den" / "metrics.json").write_text('{"task": "denoise"}')
    check_overwrite(tmp_path / "den", True, "metrics.json", "denoise", key="task")
    with pytest.raises(InputError, match="is not an anomaly folder"):
        check_overwrite(tmp_path / "den", True, "metrics.json", "anomaly", key="task")


def test_make_folder_names_what_is_in_the_way(tmp_path: Path) -> None:
    assert make_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError) as error:
        make_folder(tmp_path / "notes.txt" / "run")
    assert (error.value.what, error.value.problem) == (
        str(tmp_path / "notes.txt"),
        "is not a folder, so it cannot hold run",
    )
    with pytest.raises(InputError, match="exists and is not a folder"):
        make_folder(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.toml")
    with pytest.raises(InputError, match=r"is a named pipe \(FIFO\), not a regular file"):
        read_text(tmp_path / "config.toml")
