"""Small inputs and damaged copies the cases build in their own folders: image folders, named
pipes, read-only folders, NIfTI and DICOM files from nibabel's and pydicom's test data, and
in-place damage (truncation, flipped bytes, edited JSON)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from faultcases.core import CannotBuild


def image_folder(root: Path, classes: tuple[str, ...] = ("glioma", "notumor"), n: int = 2) -> Path:
    """A class-folder import source: `n` 32 x 32 grey PNGs in each class folder."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 255, size=(32, 32), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def fifo(path: Path) -> Path:
    """A named pipe at `path` (opening it to read waits for a writer forever)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def read_only(path: Path) -> Path:
    """A folder (made if missing) or file that cannot be changed: its write permission removed,
    and as root (whom permissions do not bind) the immutable attribute set as well."""
    if not path.exists():
        path.mkdir(parents=True)
    path.chmod(0o555 if path.is_dir() else 0o444)
    if os.geteuid() == 0:
        try:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        except FileNotFoundError:
            raise CannotBuild(
                "chattr is not installed: root cannot be kept out of a folder"
            ) from None
        if done.returncode != 0:
            raise CannotBuild(f"cannot make {path} immutable as root: {done.stderr.strip()}")
    return path


def make_mutable(root: Path) -> None:
    """Clear the immutable attribute `read_only` set anywhere under `root` (as root)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True, check=False)


def dead_pid() -> int:
    """The id of a process that has exited (what a SIGKILLed writer leaves in its file names)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut `path` to `keep` of its length."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def flip_byte(path: Path, at: float = 0.75) -> Path:
    """Flip one byte of `path`, `at` of the way in (a bit-rotted copy)."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def edit_json(path: Path, change: Callable[[Any], Any]) -> Path:
    """Rewrite the JSON file `path` as `change(its value)`."""
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return path


def nibabel_file(name: str, dest: Path) -> Path:
    """A copy of one of nibabel's test files (e.g. example4d.nii.gz) at `dest`."""
    from nibabel.testing import data_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(Path(data_path) / name, dest))


def pydicom_file(name: str, dest: Path) -> Path:
    """A copy of one of pydicom's shipped test files (e.g. MR_small.dcm) at `dest`."""
    from pydicom.data import get_testdata_file

    source = get_testdata_file(name, download=False)
    if source is None:
        raise FileNotFoundError(f"pydicom ships no {name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(str(source), dest))


def nifti_volume(dest: Path, volume: np.ndarray) -> Path:
    """`volume` saved as a NIfTI file at `dest` (1 mm voxels)."""
    import nibabel as nib

    dest.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(dest))
    return dest
