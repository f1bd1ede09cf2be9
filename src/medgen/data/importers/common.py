"""What every importer shares: units of work, reading with clear errors, and slice preparation.

A *unit* is one source the user brought (an image, a NIfTI case, a DICOM series): it loads into
`Slices`, size × size images in [0, 1] with their per-slice metadata, or raises an InputError.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, TypeVar

import numpy as np
import pandas as pd

from medgen.data.importers.deid import source_id
from medgen.exceptions import InputError
from medgen.fileio import SPECIAL_FILES

T = TypeVar("T")

PERCENTILES = (0.5, 99.5)  # intensity window per volume, in percent of its voxels
FOREGROUND = 0.02  # scaled intensity above which a pixel counts as brain (foreground)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B in grey


@dataclass(frozen=True)
class ImportOptions:
    """The options every importer sees."""

    size: int = 64  # output images are size × size pixels
    axis: int = 2  # NIfTI slicing axis in RAS+ voxel order: 0 sagittal, 1 coronal, 2 axial
    modality: str = "t1"  # which BraTS-style modality to take per case
    skip_bad: bool = False  # leave bad files out (listed) instead of failing


class Skipped(NamedTuple):
    """A file left out of an import, and why (bad with --skip-bad, or a repeated slice)."""

    path: str
    reason: str


class Gap(NamedTuple):
    """Slices missing from a series (absent or left out) between two files that imported."""

    series: str  # the series' folder
    before: str  # the file below the gap
    after: str  # the file above it
    missing: int  # how many slices the spacing says are missing


@dataclass
class Slices:
    """A loaded unit: images (k, S, S) float32 in [0, 1], tumour masks or None, a k-row table,
    and the files it left out and the gaps they leave."""

    images: np.ndarray
    tumour: np.ndarray | None
    meta: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + (0 if self.tumour is None else self.tumour.nbytes)


@dataclass(frozen=True)
class Unit:
    """One source to import: `path` names it in messages, `source` (a hash, see `deid`) goes into
    the metadata table, `group` keeps its slices in one split, `load` reads it (InputError if it
    is bad), `identifiers` are the patient identifiers its headers hold (in memory only)."""

    path: Path
    source: str
    group: str
    load: Callable[[], Slices]
    identifiers: frozenset[str] = frozenset()


def fail(path: Path, problem: str) -> NoReturn:
    """Raise the InputError for `path`; used as the loader of a unit already known to be bad."""
    raise InputError(path, problem)


def bad_unit(path: Path, root: Path, problem: str) -> Unit:
    """A unit whose loading fails with `problem` (so --skip-bad can skip it like any other)."""
    rel = path.relative_to(root).as_posix()
    return Unit(path, source_id("file", rel), rel, partial(fail, path, problem))


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is hidden (.DS_Store, .git, ._x.png): never imported."""
    return name.startswith(".")


def walk(source: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """`os.walk` over `source` in sorted order, hidden folders and files left out."""
    for folder, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        yield Path(folder), dirs, sorted(n for n in names if not is_hidden(n))


def list_files(source: Path) -> list[Path]:
    """Every non-hidden, non-folder entry under `source` (or `source` itself if it is a file),
    sorted; dangling links are kept so that they are reported as unreadable."""
    if not source.is_dir():
        return [source]
    return sorted(folder / name for folder, _, names in walk(source) for name in names)


def not_regular(path: Path) -> str | None:
    """Why `path` is no file to read, for a named pipe, a device or a socket (opening a pipe waits
    for a writer forever); None for a regular file or a dangling link (reported when read)."""
    try:
        mode = path.stat().st_mode  # through links: a link to a pipe is a pipe
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    kind = SPECIAL_FILES.get(stat.S_IFMT(mode), "an entry of an unknown kind")
    return f"is {kind}, not a regular file: skipped"


def regular_files(files: list[Path]) -> tuple[list[Path], list[Skipped]]:
    """`files` without the named pipes, devices and sockets, and those left out, with why."""
    kept: list[Path] = []
    skipped: list[Skipped] = []
    for path in files:
        why = not_regular(path)
        if why is None:
            kept.append(path)
        else:
            skipped.append(Skipped(str(path), why))
    return kept, skipped


def one_line(text: str, limit: int = 200) -> str:
    """`text` on one line, at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def read_file(path: Path, what: str, reader: Callable[[], T]) -> T:
    """Run `reader` (a call into nibabel, pydicom or PIL) with its warnings silenced; any error
    it raises becomes an InputError naming `path` ("cannot be read as <what>: <reason>").

    Third-party readers raise many types on a corrupt file (EOFError, zlib.error, struct.error,
    SyntaxError, ...), so everything but our own InputError is caught here; keep `reader` small.
    """
    try:
        with open(path, "rb"):  # a plain reason for a missing or forbidden file, from the OS
            pass
    except OSError as exc:
        raise InputError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reader()
    except InputError:
        raise
    except Exception as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            path, f"cannot be read as {what}: {one_line(reason or type(exc).__name__)}"
        ) from None


def check_finite(path: Path, array: np.ndarray) -> np.ndarray:
    """Return `array`, or raise an InputError if it holds NaN or infinite values."""
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise InputError(path, f"contains NaN or infinite values ({bad} of {array.size} voxels)")
    return array


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """(..., 3 or 4) colour pixels to (...) grey by BT.601 luma; alpha is dropped."""
    return np.asarray(rgb[..., :3], dtype=np.float32) @ np.asarray(LUMA, dtype=np.float32)


def scale_intensity(volume: np.ndarray) -> np.ndarray:
    """Map a whole volume (or image) to [0, 1] by its 0.5 and 99.5 percentiles, clipped.

    Robust to a few hot voxels; falls back to min-max when the percentiles coincide (a sparse
    volume) and to all zeros for a constant one.
    """
    lo, hi = (float(v) for v in np.percentile(volume, PERCENTILES))
    if hi <= lo:
        lo, hi = float(volume.min()), float(volume.max())
    if hi <= lo:
        return np.zeros(volume.shape, np.float32)
    return np.clip((volume.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)


def foreground(images: np.ndarray) -> np.ndarray:
    """The brain (foreground) mask of scaled images: intensity above FOREGROUND, as uint8."""
    return (images > FOREGROUND).astype(np.uint8)


def fit_square(
    stack: np.ndarray, spacing: tuple[float, float], size: int, *, mask: bool
) -> np.ndarray:
    """Resize (k, H, W) planes to (k, size, size) keeping the physical aspect, then zero-pad.

    `spacing` is (row, column) pixel spacing. MONAI's Resize makes the longer physical side `size`
    pixels (masks: nearest neighbour; images: area averaging when shrinking, else anti-aliased
    bilinear) and SpatialPad centres the result.
    """
    import torch  # imported late, with MONAI: they take seconds to load
    from monai.transforms import Resize, SpatialPad

    height, width = stack.shape[1] * spacing[0], stack.shape[2] * spacing[1]
    scale = size / max(height, width)
    shape = (max(1, min(size, round(height * scale))), max(1, min(size, round(width * scale))))
    shrinking = shape[0] <= stack.shape[1] and shape[1] <= stack.shape[2]
    mode = "nearest-exact" if mask else "area" if shrinking else "bilinear"
    resize = Resize(shape, mode=mode, anti_aliasing=mode == "bilinear")
    resized = resize(torch.from_numpy(stack.astype(np.float32)))  # (k, h, w), h or w == size
    return np.asarray(SpatialPad((size, size))(resized))  # (k, size, size)


def make_slices(
    volume: np.ndarray,
    spacing: tuple[float, float],
    size: int,
    *,
    seg: np.ndarray | None = None,
    skip_empty: bool = True,
) -> Slices:
    """Scale a (k, H, W) volume to [0, 1], fit each plane into size × size, and drop planes with
    no foreground if `skip_empty`. With a segmentation (k, H, W), also tumour masks (seg > 0,
    nearest neighbour) and per slice tumour_px (mask pixels at the output size) and label."""
    images = np.clip(fit_square(scale_intensity(volume), spacing, size, mask=False), 0.0, 1.0)
    keep = (
        np.flatnonzero(foreground(images).any(axis=(1, 2)))
        if skip_empty
        else np.arange(len(images))
    )
    meta = pd.DataFrame({"source_z": keep.astype(np.float64)})
    tumour = None
    if seg is not None:
        tumour = fit_square((seg > 0).astype(np.float32), spacing, size, mask=True) > 0.5
        tumour = tumour[keep].astype(np.uint8)
        meta["tumour_px"] = tumour.sum(axis=(1, 2)).astype(np.int64)
        meta["label"] = (meta["tumour_px"] > 0).astype(np.int64)
        meta["tumour_type"] = np.where(meta["label"] == 1, "unknown", "none")
        meta["location"] = meta["tumour_type"]
    return Slices(images[keep].astype(np.float32), tumour, meta)


def no_slices(size: int) -> Slices:
    """A unit with nothing to import (every file in it left out)."""
    return Slices(np.zeros((0, size, size), np.float32), None, pd.DataFrame({"source_z": []}))


def with_columns(slices: Slices, **columns: Any) -> Slices:
    """`slices` with constant metadata columns set (e.g. a class folder's label)."""
    return replace(slices, meta=slices.meta.assign(**columns))
