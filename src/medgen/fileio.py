"""Atomic writes: a file or a folder appears whole or not at all.

A write that fails on the filesystem (a full disk, a read-only folder, a file in the way) is one
InputError naming the path, and leaves no temporary file or folder behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medgen.exceptions import InputError

NO_FALLOCATE = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)  # a filesystem without fallocate
ZERO_CHUNK = 1 << 20  # bytes of zeros per write where fallocate is missing
SPECIAL_FILES = {  # file types medgen never opens to read, by stat.S_IFMT
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def fsync_dir(path: Path) -> None:
    """Flush a folder's entry table so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reason(err: OSError) -> str:
    """The OS's words for `err` ("No space left on device"), or its text if it has none."""
    return err.strerror or str(err)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(path, f"cannot be written: {reason(exc)}") from exc
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def jsonable(value: Any) -> Any:
    """NaN and inf as None, numpy scalars as Python numbers (JSON has neither)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


def reserve(path: str | Path, offset: int, length: int) -> None:
    """Allocate disk blocks now for bytes [offset, offset + length) of file `path`, which must
    hold zeros (a new file's unwritten part).

    A memory map that writes into a sparse file's hole needs a block at that moment; on a full
    disk the kernel answers with SIGBUS, which kills the process without a word. Allocated up
    front, a full disk is an OSError (ENOSPC) here instead. Where the filesystem has no
    fallocate, the zeros are written out in chunks.
    """
    if length <= 0:
        return
    with open(path, "r+b") as f:
        fallocate = getattr(os, "posix_fallocate", None)
        if fallocate is not None:
            try:
                fallocate(f.fileno(), offset, length)
                return
            except OSError as err:
                if err.errno not in NO_FALLOCATE:
                    raise
        f.seek(offset)
        zeros = bytes(min(ZERO_CHUNK, length))
        for start in range(0, length, ZERO_CHUNK):
            f.write(zeros[: min(ZERO_CHUNK, length - start)])


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def remove_stale(out: Path) -> None:
    """Remove the `.NAME.tmp-PID` siblings of `out` that dead processes left (a SIGKILL skips
    every cleanup), and their `.NAME.old-PID` ones once `out` exists again; never those of a
    process still alive, which may be writing them now."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-(\d+)")
    for entry in out.parent.iterdir():
        found = pattern.fullmatch(entry.name)
        if found is None or pid_alive(int(found[2])):
            continue
        if found[1] == "old" and not out.exists():
            continue  # the rename into `out` never happened: this is the only copy left
        remove(entry)


def remove(path: Path) -> None:
    """Remove a file, a link or a folder tree, whichever `path` is; errors are ignored."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def published(path: Path, tmp: Path, out: Path) -> Path:
    """`path` with the temporary folder `tmp` replaced by `out`, the name a user knows."""
    if path == tmp or tmp in path.parents:
        return out / path.relative_to(tmp)
    return path


def write_error(err: OSError, tmp: Path, out: Path) -> InputError:
    """One InputError line for a filesystem error while writing `out` through `tmp`."""
    if not isinstance(err.filename, str | bytes | os.PathLike):
        return InputError(out, f"cannot be written: {reason(err)}")
    path = Path(os.fsdecode(err.filename))
    if path in (tmp, out) or tmp in path.parents or out in path.parents:
        return InputError(published(path, tmp, out), f"cannot be written: {reason(err)}")
    if path in out.parents:
        if os.path.lexists(path) and not path.is_dir():
            return InputError(path, f"is not a folder, so it cannot hold {out.name}")
        return InputError(path, f"cannot hold {out.name}: {reason(err)}")
    return InputError(path, reason(err))


def swap_in(tmp: Path, out: Path) -> None:
    """Rename `tmp` to `out`; an existing `out` is moved aside first and put back if that fails."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    moved = os.path.lexists(out)
    if moved:
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if moved:
            os.replace(old, out)
        raise
    fsync_dir(out.parent)
    if moved:
        remove(old)


@contextlib.contextmanager
def atomic_directory(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder of `out`, renamed to `out` only if the block succeeds.

    On an error or an interrupt the temporary folder is removed and `out` (if it existed) is left
    as it was; with `overwrite`, an existing `out` is replaced only once the new one is complete.
    Temporary folders that killed processes left beside `out` are removed first. A filesystem
    error (an OSError) becomes one InputError naming the path as it would be in `out`.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(out)
        remove(tmp)
        tmp.mkdir()
    except OSError as err:
        raise write_error(err, tmp, out) from err
    try:
        yield tmp
        for entry in tmp.rglob("*"):
            if entry.is_file():
                with open(entry, "rb+") as f:
                    os.fsync(f.fileno())
        swap_in(tmp, out)
    except BaseException as exc:
        remove(tmp)
        if isinstance(exc, OSError):
            raise write_error(exc, tmp, out) from exc
        if isinstance(exc, InputError):
            named = published(Path(exc.what), tmp, out)
            if named != Path(exc.what):
                raise InputError(named, exc.problem) from exc
        raise


def make_folder(path: str | Path) -> Path:
    """Create folder `path` and any missing parents; a file in the way or a folder that cannot
    be written is one InputError naming the path, not an OSError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        in_the_way = [f for f in (path, *path.parents) if os.path.lexists(f) and not f.is_dir()]
        if in_the_way and in_the_way[0] == path:
            raise InputError(path, "exists and is not a folder") from None
        if in_the_way:
            problem = f"is not a folder, so it cannot hold {path.name}"
            raise InputError(in_the_way[0], problem) from None
        raise InputError(path, f"cannot be created: {reason(err)}") from None
    return path


def check_overwrite(
    out: Path, overwrite: bool, manifest: str, fmt: str | None = None, *, key: str = "format"
) -> None:
    """Refuse an existing `out` unless `overwrite` is set and `out` is what --overwrite may
    replace: an empty folder, or a medgen folder with the JSON file `manifest` whose `key`
    ("format" unless told) is `fmt` (any JSON object if `fmt` is None). A file, a link, a folder
    of anything else and the current folder (or one holding it) are never replaced."""
    if not os.path.lexists(out):
        return
    if not overwrite:
        raise InputError(out, "already exists (pass --overwrite to replace it)")
    article = "an" if fmt and fmt[0] in "aeiou" else "a"
    kind = f"{article} {fmt} folder" if fmt else f"a folder with {manifest}"
    refusal = f"is not {kind}; --overwrite replaces nothing else (choose another output)"
    with contextlib.suppress(OSError):
        here = Path.cwd().resolve()
        if out.resolve() in (here, *here.parents):
            raise InputError(
                out, "is the current folder or holds it; --overwrite never replaces it"
            )
    if out.is_symlink() or not out.is_dir():
        raise InputError(out, refusal)
    if not any(out.iterdir()):
        return
    try:
        record = json.loads((out / manifest).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict) or (fmt is not None and record.get(key) != fmt):
        raise InputError(out, refusal)


def refuse_special(path: str | Path) -> None:
    """InputError if `path` is a named pipe, a device or a socket (followed through links):
    opening a named pipe to read waits for a writer forever."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return  # missing or unreadable: the read that follows says so
    kind = SPECIAL_FILES.get(stat.S_IFMT(mode))
    if kind is not None:
        raise InputError(path, f"is {kind}, not a regular file")


def read_text(path: str | Path) -> str:
    """The UTF-8 text of `path`, or one InputError line saying why it cannot be read."""
    path = Path(path)
    refuse_special(path)
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
