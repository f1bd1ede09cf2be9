"""`import_data`: detect what the user brought, load and check every source, then write the dataset.

Two passes: the first loads each source (catching bad input), counts its slices and keeps them in
memory while they fit CACHE_BYTES; the second writes into a DatasetWriter, which needs the count
up front and leaves nothing behind if anything fails.

Files left out and gaps in series are returned in the `ImportResult`, never written into the
dataset, which holds no source path (see `deid`); the CLI prints one warning line for each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from medgen.data.importers import dicom, folder, nifti
from medgen.data.importers.common import (
    PERCENTILES,
    Gap,
    ImportOptions,
    Skipped,
    Slices,
    Unit,
    foreground,
    list_files,
    regular_files,
)
from medgen.data.importers.deid import check_case_id, check_no_identifier
from medgen.data.store import DatasetWriter, check_out, check_size
from medgen.exceptions import InputError, SettingError
from medgen.validate import random_seed

Planner = Callable[[Path, list[Path], ImportOptions], list[Unit]]
Progress = Callable[[int, int], None]

PLANNERS: dict[str, Planner] = {"folder": folder.plan, "nifti": nifti.plan, "dicom": dicom.plan}
KINDS = ("auto", *PLANNERS)
SPLITS = ("train", "dev", "test")
CACHE_BYTES = 512 << 20  # slices kept between the two passes; beyond this they are re-read


@dataclass
class ImportResult:
    """What an import wrote: the manifest, the slice count, the files it left out (bad ones with
    --skip-bad, repeated slices always) and the gaps in series."""

    manifest: dict[str, Any]
    n_slices: int
    skipped: list[Skipped] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


class Loaded(NamedTuple):
    """A unit that loaded: its slice count, whether it has tumour masks, and its slices if they
    were kept in memory."""

    unit: Unit
    n: int
    has_tumour: bool
    slices: Slices | None


class FirstPass(NamedTuple):
    """The units that loaded, the files left out, and the gaps in series."""

    loaded: list[Loaded]
    skipped: list[Skipped]
    gaps: list[Gap]


def detect_kind(source: Path, files: list[Path]) -> str:
    """The kind of data at `source`: nifti if there is a .nii(.gz), else dicom if there is a DICOM
    file, else folder if images sit in subfolders; InputError otherwise."""
    root = source if source.is_dir() else source.parent
    if any(map(nifti.is_nifti, files)):
        return "nifti"
    if any(map(dicom.is_dicom, files)):
        return "dicom"
    if any(folder.is_image(p) and p.parent != root for p in files):
        return "folder"
    raise InputError(
        source,
        "cannot tell what to import: no NIfTI (.nii, .nii.gz), no DICOM, no class folders of "
        "PNG/JPG/TIFF images (pass --kind to say which)",
    )


def check_splits(splits: tuple[float, ...]) -> tuple[float, float, float]:
    """Train/dev/test fractions, three non-negative numbers summing to 1 (SettingError naming
    "splits" otherwise)."""
    if len(splits) != 3 or not all(np.isfinite(splits)) or min(splits) < 0:
        raise SettingError("splits", f"{splits} must be three fractions >= 0 (train, dev, test)")
    if abs(sum(splits) - 1.0) > 1e-6:
        raise SettingError("splits", f"fractions {splits} sum to {sum(splits):g}, not 1")
    return float(splits[0]), float(splits[1]), float(splits[2])


def check_options(
    kind: str, size: int, axis: int, modality: str, skip_bad: bool = False
) -> ImportOptions:
    """Validate the options (SettingError naming the bad one)."""
    if kind not in KINDS:
        raise SettingError("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    if axis not in (0, 1, 2):
        raise SettingError("axis", f"{axis} is not 0, 1 or 2")
    if modality not in nifti.MODALITIES:
        raise SettingError("modality", f"{modality!r} is not one of {', '.join(nifti.MODALITIES)}")
    return ImportOptions(size=check_size(size), axis=axis, modality=modality, skip_bad=skip_bad)


def check_paths(source: Path, out: Path, overwrite: bool) -> None:
    """Fail early on a missing source, an existing output, or an output that would replace the
    source."""
    if not source.exists():
        raise InputError(source, "does not exist")
    if out.resolve() == source.resolve() or out.resolve() in source.resolve().parents:
        raise SettingError("out", f"{out} holds the source {source}; choose another folder")
    check_out(out, overwrite)


def assign_splits(
    groups: list[str], fractions: tuple[float, float, float], seed: int
) -> dict[str, str]:
    """Map each group (a case, series or image) to train/dev/test: shuffled by `seed`, then cut
    by cumulative fractions, so a group's slices never straddle splits."""
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    edges = np.round(np.cumsum(fractions) * len(unique))
    split_of_rank = np.searchsorted(edges, np.arange(len(unique)), side="right")
    return {unique[i]: SPLITS[min(int(split_of_rank[r]), 2)] for r, i in enumerate(order)}


def first_pass(units: list[Unit], skip_bad: bool, progress: Progress | None) -> FirstPass:
    """Load every unit once: count its slices, keep them while they fit, record what was left
    out and the gaps."""
    loaded: list[Loaded] = []
    skipped: list[Skipped] = []
    gaps: list[Gap] = []
    kept_bytes = 0
    for done, unit in enumerate(units, 1):
        try:
            slices = unit.load()
        except InputError as exc:
            if not skip_bad:
                raise
            skipped.append(Skipped(exc.what, exc.problem))
        else:
            skipped += slices.skipped
            gaps += slices.gaps
            keep = kept_bytes + slices.nbytes <= CACHE_BYTES
            kept_bytes += slices.nbytes if keep else 0
            if len(slices):
                has_tumour = slices.tumour is not None
                loaded.append(Loaded(unit, len(slices), has_tumour, slices if keep else None))
        if progress:
            progress(done, 2 * len(units))
    return FirstPass(loaded, skipped, gaps)


def write(
    out: Path,
    loaded: list[Loaded],
    splits: dict[str, str],
    options: ImportOptions,
    manifest: dict[str, Any],
    overwrite: bool,
    progress: Progress | None,
    offset: int = 0,
) -> dict[str, Any]:
    """Second pass: write every loaded unit's slices, masks and metadata; returns the manifest."""
    n = sum(item.n for item in loaded)
    with_tumour = any(item.has_tumour for item in loaded)
    arrays = ["images", "brain_mask", *(["tumour_mask"] if with_tumour else [])]
    tables: list[pd.DataFrame] = []
    start = 0
    with DatasetWriter(out, n, options.size, arrays, overwrite=overwrite) as writer:
        for done, item in enumerate(loaded, 1):
            slices = item.slices if item.slices is not None else item.unit.load()
            if len(slices) != item.n:
                raise InputError(item.unit.path, "changed while it was being imported")
            end = start + item.n
            writer.arrays["images"][start:end] = slices.images
            writer.arrays["brain_mask"][start:end] = foreground(slices.images)
            if with_tumour:
                writer.arrays["tumour_mask"][start:end] = (
                    0 if slices.tumour is None else slices.tumour
                )
            tables.append(
                slices.meta.assign(source=item.unit.source, split=splits[item.unit.group])
            )
            start = end
            if progress:
                progress(offset + done, offset + len(loaded))
        meta = pd.concat(tables, ignore_index=True)
        meta["id"] = np.arange(n)
        written = writer.commit(meta, manifest)
    return written


def import_data(
    source: str | Path,
    out: str | Path,
    *,
    kind: str = "auto",
    size: int = 64,
    axis: int = 2,
    modality: str = "t1",
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    skip_bad: bool = False,
    case_id: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import an image folder, NIfTI volumes or DICOM series at `source` as a dataset at `out`.

    Every slice becomes size × size (aspect kept, zero-padded), intensities scaled per image or
    volume to [0, 1] by the 0.5-99.5 percentiles; slices with no foreground are dropped from
    volumes. Splits are drawn per image, case or patient from `seed`. Bad input raises an
    InputError naming the file, or with `skip_bad` is left out (a file, not its whole series) and
    listed in the result, as are named pipes, devices and sockets, which are never opened (a pipe
    would block forever); an empty folder, or nothing left to import, is always an error. `out`
    appears only when complete. Each `source` is a hash of the relative path, under `case_id/`
    if given; a `case_id` holding a patient identifier from the headers is refused.
    """
    options = check_options(kind, size, axis, modality, skip_bad)
    fractions = check_splits(splits)
    random_seed("seed", seed)
    check_case_id(case_id)
    source, out = Path(source), Path(out)
    check_paths(source, out, overwrite)
    files, special = regular_files(list_files(source))
    if not files:
        left_out = f"has no regular files to import ({len(special)} left out)"
        raise InputError(source, left_out if special else "is an empty folder (nothing to import)")
    kind = detect_kind(source, files) if kind == "auto" else kind
    root = source if source.is_dir() else source.parent
    units = PLANNERS[kind](root, files, options)
    check_no_identifier(case_id, (unit.identifiers for unit in units))
    if case_id is not None:
        units = [replace(unit, source=f"{case_id}/{unit.source}") for unit in units]
    loaded, skipped, gaps = first_pass(units, skip_bad, progress)
    skipped = special + skipped
    if not loaded:
        n_bad = len(skipped)
        why = f"{n_bad} file{'s' if n_bad != 1 else ''} skipped as bad" if skipped else "all blank"
        raise InputError(source, f"has no slices to import ({why})")
    groups = assign_splits([item.unit.group for item in loaded], fractions, seed)
    manifest = {
        "kind": f"import-{kind}",
        "config": {
            "kind": kind,
            "size": options.size,
            "axis": options.axis if kind == "nifti" else None,
            "modality": options.modality if kind == "nifti" else None,
            "splits": list(fractions),
            "seed": seed,
            "skip_bad": skip_bad,
            "case_id": case_id,
        },
        "intensity": f"per {'image' if kind == 'folder' else 'volume'}: "
        f"percentiles {PERCENTILES[0]}-{PERCENTILES[1]} to [0, 1], clipped",
        "imported": {"sources": len(loaded), "skipped": len(skipped)},
    }
    written = write(out, loaded, groups, options, manifest, overwrite, progress, len(units))
    return ImportResult(written, int(written["n_slices"]), skipped, gaps)
