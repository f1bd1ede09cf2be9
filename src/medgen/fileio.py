"""Atomic writes: a file or a folder appears whole or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medgen.exceptions import InputError


def fsync_dir(path: Path) -> None:
    """Flush a folder's entry table so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write `data` as stable, indented JSON to `path` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def encode_png(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 picture as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def write_png_atomic(path: str | Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 picture to `path` as PNG, atomically."""
    write_bytes_atomic(path, encode_png(rgb))


def write_arrays_atomic(path: str | Path, **arrays: np.ndarray) -> None:
    """Write named arrays to `path` as a compressed .npz, atomically; object arrays (which numpy
    would pickle) are refused, so the file loads with allow_pickle=False."""
    pickled = [name for name, array in arrays.items() if np.asarray(array).dtype.hasobject]
    if pickled:
        raise ValueError(f"{path}: arrays {pickled} hold Python objects; give them a plain dtype")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # names, not allow_pickle
    write_bytes_atomic(path, buffer.getvalue())


@contextlib.contextmanager
def atomic_directory(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder of `out`, renamed to `out` only if the block succeeds.

    On an error or an interrupt the temporary folder is removed and `out` (if it existed) is left
    as it was; with `overwrite`, an existing `out` is replaced only once the new one is complete.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        for entry in tmp.rglob("*"):
            if entry.is_file():
                with open(entry, "rb+") as f:
                    os.fsync(f.fileno())
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        fsync_dir(out.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_text(path: str | Path) -> str:
    """The UTF-8 text of `path`, or one InputError line saying why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot be read ({err})") from None


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in `path`, or one InputError line saying why not."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(path, f"is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object, got {type(data).__name__}")
    return data


def sha256_of(path: str | Path) -> str:
    """The SHA-256 hex digest of file `path`, or one InputError line saying why it is unreadable."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    return digest.hexdigest()


def check_sha256(path: str | Path, digest: str, record: str | Path) -> None:
    """Refuse file `path` unless its SHA-256 is `digest`, as recorded in `record`."""
    if sha256_of(path) != digest:
        raise InputError(
            path,
            f"does not match the SHA-256 recorded in {record}: corrupted or changed since saved",
        )
