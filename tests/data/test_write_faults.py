"""Writing a dataset on a filesystem that fails: one line, exit 2, nothing half-written left;
and --overwrite replaces only a dataset."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from import_fixtures import make_class_folder

from cli_support import assert_one_line_error, run_cli
from medgen.data.importers import import_data
from medgen.data.store import DatasetWriter, open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.exceptions import InputError

TINY = DataConfig(n_train=8, n_dev=4, n_test=4, size=32, seed=5)
# The command line with a disk that is full as soon as anything is allocated.
FULL_DISK_CLI = """
import errno, os
def full(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.posix_fallocate = full
from medgen.cli import main
main()
"""


def full_disk(*args: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def run_cli_on_a_full_disk(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`medgen ARGS` in a subprocess whose os.posix_fallocate fails with ENOSPC."""
    command = [sys.executable, "-c", FULL_DISK_CLI, *map(str, args)]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_a_full_disk_is_one_line_not_a_sigbus(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ("--size", "32", "--n-train", "8", "--n-dev", "4", "--n-test", "4", "--workers", "2")
    result = run_cli_on_a_full_disk("data", "make", "--out", out, *args)
    assert_one_line_error(result, str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_keeps_the_old_dataset_and_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    make_dataset(out, TINY, workers=1)
    before = open_dataset(out).manifest["content_hash"]
    monkeypatch.setattr(os, "posix_fallocate", full_disk)
    with pytest.raises(InputError) as error:
        make_dataset(out, replace(TINY, seed=6), workers=1, overwrite=True)
    assert error.value.what.startswith(str(out))
    assert "No space left on device" in error.value.problem
    assert open_dataset(out).manifest["content_hash"] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    make_class_folder(tmp_path / "src", {"glioma": 2})
    with pytest.raises(InputError, match="No space left on device"):
        import_data(tmp_path / "src", tmp_path / "imported", size=32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "src"]


def test_arrays_are_allocated_on_disk_not_sparse(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "data", 16, 64, ["images", "brain_mask"]) as writer:
        assert writer.root is not None
        for name in ("images", "brain_mask"):
            found = (writer.root / f"{name}.npy").stat()
            assert found.st_blocks * 512 >= found.st_size, f"{name}.npy is sparse"
        writer.commit(pd.DataFrame({"split": ["train"] * 16}), {})


def test_overwrite_replaces_only_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("mine")
    for name in ("notes.txt", "thesis"):
        with pytest.raises(InputError, match="is not a medgen-slices folder"):
            make_dataset(tmp_path / name, TINY, workers=1, overwrite=True)
    make_class_folder(tmp_path / "src", {"glioma": 2})
    result = run_cli(
        "data", "import", tmp_path / "src", "--out", tmp_path / "thesis", "--overwrite"
    )
    assert_one_line_error(result, str(tmp_path / "thesis"), "is not a medgen-slices folder")
    result = run_cli("data", "make", "--out", ".", "--overwrite", cwd=tmp_path / "thesis")
    assert_one_line_error(result, ".: is the current folder or holds it")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "thesis").iterdir()) == ["chapter1.tex"]
    import_data(tmp_path / "src", tmp_path / "data", size=32)
    import_data(tmp_path / "src", tmp_path / "data", size=64, overwrite=True)  # a dataset: fine
    assert open_dataset(tmp_path / "data").size == 64


def test_the_next_build_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    killed = subprocess.Popen([sys.executable, "-c", "pass"])  # stands for a SIGKILLed build
    killed.wait()
    leftover = tmp_path / f".data.tmp-{killed.pid}"
    leftover.mkdir()
    (leftover / "images.npy").write_bytes(b"half")
    make_dataset(tmp_path / "data", TINY, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
