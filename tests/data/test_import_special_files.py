"""Named pipes, devices and sockets in a source tree are left out with a warning, never opened
(opening a named pipe for reading waits for a writer forever)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from import_fixtures import make_class_folder

from cli_support import run_cli
from medgen.data.importers import import_data
from medgen.data.store import open_dataset
from medgen.exceptions import InputError


def test_a_named_pipe_and_a_socket_are_skipped_with_a_warning(tmp_path: Path) -> None:
    src = make_class_folder(tmp_path / "src", {"glioma": 2, "notumor": 2})
    os.mkfifo(src / "glioma" / "pipe.png")
    os.mkfifo(src / "stream")  # beside the class folders, where plain files are ignored
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(src / "notumor" / "ipc.sock"))
        result = import_data(src, tmp_path / "out", size=32)
    assert open_dataset(tmp_path / "out").manifest["n_slices"] == 4
    skipped = dict(result.skipped)
    pipe = "is a named pipe (FIFO), not a regular file: skipped"
    assert skipped[str(src / "glioma" / "pipe.png")] == pipe
    assert skipped[str(src / "notumor" / "ipc.sock")].startswith("is a socket")
    assert str(src / "stream") in skipped


def test_the_command_line_warns_about_a_named_pipe_and_imports_the_rest(tmp_path: Path) -> None:
    src = make_class_folder(tmp_path / "src", {"glioma": 1, "notumor": 1})
    os.mkfifo(src / "glioma" / "scan.dcm")  # a DICOM name: auto-detection would read it
    result = run_cli("data", "import", src, "--out", tmp_path / "out", "--size", "32")
    assert result.returncode == 0, result.stderr
    warning = f"medgen: warning: {src / 'glioma' / 'scan.dcm'}: is a named pipe (FIFO)"
    assert warning in result.stderr
    assert open_dataset(tmp_path / "out").manifest["n_slices"] == 2


def test_a_folder_of_nothing_but_pipes_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "src" / "glioma").mkdir(parents=True)
    os.mkfifo(tmp_path / "src" / "glioma" / "a.png")
    with pytest.raises(InputError, match=r"has no regular files to import \(1 left out\)"):
        import_data(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()
