"""The on-disk dataset format: memory-mappable arrays, a metadata table and a JSON manifest.

    DIR/manifest.json     format version, medgen version, counts, array shapes, config, content hash
    DIR/meta.csv          one row per slice (see META_COLUMNS)
    DIR/images.npy        (N, H, W) float32 in [0, 1]: the image a model sees (noisy, biased)
    DIR/clean.npy         (N, H, W) float32: noise-free, bias-free image (built-in data only)
    DIR/brain_mask.npy    (N, H, W) uint8
    DIR/tumour_mask.npy   (N, H, W) uint8
    DIR/oedema_mask.npy   (N, H, W) uint8 (built-in data only)

Every array is a plain `.npy` file, so `numpy.load(path, mmap_mode="r")` reads it lazily.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgen import __version__
from medgen.exceptions import InputError, SettingError
from medgen.fileio import atomic_directory, check_overwrite, refuse_special, reserve

FORMAT = "medgen-slices"
FORMAT_VERSION = 1
ALLOWED_SIZES = (32, 64, 128, 256)

ARRAY_DTYPES: dict[str, np.dtype[Any]] = {
    "images": np.dtype(np.float32),
    "clean": np.dtype(np.float32),
    "brain_mask": np.dtype(np.uint8),
    "tumour_mask": np.dtype(np.uint8),
    "oedema_mask": np.dtype(np.uint8),
}

# Column -> (dtype, value when unknown). Imported data fill what they know; the rest is "unknown".
META_COLUMNS: dict[str, tuple[str, Any]] = {
    "id": ("int64", -1),  # row index in the arrays
    "split": ("str", "train"),  # train | dev | test
    "label": ("int64", -1),  # 1 tumour, 0 none, -1 unknown
    "tumour_type": ("str", "unknown"),  # none | benign | malignant | a class folder's name
    "location": ("str", "unknown"),  # none | brainstem | cerebellum | frontal | ...
    "tumour_px": ("int64", -1),  # tumour area in pixels
    "oedema_px": ("int64", -1),  # oedema area in pixels (excluding the tumour)
    "tumour_contrast": ("float64", np.nan),  # how far the tumour stands out, in [0, 1] units
    "enhancing": ("int64", -1),  # 1 contrast-enhancing, 0 non-enhancing (hypointense), -1 n/a
    "noise_sigma": ("float64", np.nan),  # std of the complex Gaussian behind the Rician noise
    "bias_strength": ("float64", np.nan),  # max |log| of the multiplicative bias field
    "source_z": (
        "float64",
        np.nan,
    ),  # MNI z in mm of the template slice, or the imported slice index
    "seed": ("int64", -1),  # per-slice seed (built-in data)
    "source": ("str", ""),  # "mni152", or an imported file's de-identified label (importers.deid)
}


def check_size(size: int) -> int:
    """Return `size` if it is an allowed image size, else raise a SettingError naming "size"."""
    if size not in ALLOWED_SIZES:
        allowed = ", ".join(map(str, ALLOWED_SIZES))
        raise SettingError("size", f"{size} is not allowed (choose one of {allowed})")
    return size


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an existing `out` unless `overwrite` is set and it is a dataset folder (or empty):
    --overwrite never replaces a file or a folder of anything else."""
    check_overwrite(out, overwrite, "manifest.json", FORMAT)


def create_array(path: Path, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.memmap[Any, Any]:
    """A new zero-filled .npy file at `path`, mapped for writing, its disk blocks allocated up
    front (see `reserve`): a full disk is an OSError here, not a SIGBUS when a map writes."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    reserve(path, int(array.offset), int(array.nbytes))
    return array


def normalise_meta(meta: pd.DataFrame) -> pd.DataFrame:
    """Return `meta` with exactly META_COLUMNS, in order, typed, unknowns filled."""
    out = pd.DataFrame(index=range(len(meta)))
    for name, (dtype, missing) in META_COLUMNS.items():
        column = meta[name].to_numpy() if name in meta else np.full(len(meta), missing, object)
        out[name] = pd.Series(column).astype(object).where(pd.notna(column), missing).astype(dtype)
    return out


def content_hash(root: Path, arrays: Sequence[str]) -> str:
    """SHA-256 over every array file and the metadata table, in a fixed order."""
    digest = hashlib.sha256()
    for name in [*sorted(arrays), "meta"]:
        path = root / (f"{name}.npy" if name != "meta" else "meta.csv")
        digest.update(name.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


class DatasetWriter:
    """Fill arrays in a temporary folder; `commit` writes the table and manifest and renames.

    Used as a context manager: if the block raises or is interrupted, nothing is left behind and
    an existing dataset at `out` stays as it was.
    """

    def __init__(
        self, out: str | Path, n: int, size: int, arrays: Sequence[str], *, overwrite: bool = False
    ) -> None:
        unknown = set(arrays) - set(ARRAY_DTYPES)
        if unknown or "images" not in arrays:
            raise ValueError(f"arrays must include 'images' and be among {list(ARRAY_DTYPES)}")
        self.out, self.n, self.size = Path(out), n, size
        self.array_names = tuple(arrays)
        self.overwrite = overwrite
        self.root: Path | None = None
        self.arrays: dict[str, np.memmap[Any, Any]] = {}
        self._ctx: Any = None
        self._committed = False

    def __enter__(self) -> DatasetWriter:
        check_out(self.out, self.overwrite)
        self._ctx = atomic_directory(self.out, overwrite=self.overwrite)
        self.root = self._ctx.__enter__()
        shape = (self.n, self.size, self.size)
        try:
            for name in self.array_names:
                path = self.root / f"{name}.npy"
                self.arrays[name] = create_array(path, ARRAY_DTYPES[name], shape)
        except BaseException as exc:
            self.arrays.clear()
            if not self._ctx.__exit__(type(exc), exc, exc.__traceback__):  # removes the folder
                raise
        return self

    def commit(self, meta: pd.DataFrame, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write meta.csv and manifest.json (with the content hash); the rename follows on exit."""
        assert self.root is not None, "use DatasetWriter as a context manager"
        if len(meta) != self.n:
            raise ValueError(f"meta has {len(meta)} rows for {self.n} slices")
        for array in self.arrays.values():
            array.flush()
        self.arrays.clear()  # release the maps before hashing and renaming
        table = normalise_meta(meta)
        table.to_csv(self.root / "meta.csv", index=False, lineterminator="\n", float_format="%.6g")
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "medgen_version": __version__,
            "n_slices": self.n,
            "size": self.size,
            "arrays": {name: ARRAY_DTYPES[name].name for name in self.array_names},
            "splits": {
                str(k): int(v) for k, v in table["split"].value_counts().sort_index().items()
            },
            **manifest,
            "content_hash": content_hash(self.root, self.array_names),
        }
        text = json.dumps(full, indent=2, sort_keys=True) + "\n"
        (self.root / "manifest.json").write_text(text, encoding="utf-8")
        self._committed = True
        return full

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.arrays.clear()
        if exc_type is None and not self._committed:
            exc_type, exc = RuntimeError, RuntimeError("DatasetWriter closed without commit()")
            self._ctx.__exit__(exc_type, exc, None)
            raise exc
        self._ctx.__exit__(
            exc_type, exc, tb
        )  # renames on success, cleans up and re-raises on error


@dataclass
class StoredDataset:
    """A dataset on disk, opened read-only: manifest, metadata table and lazily mapped arrays."""

    root: Path
    manifest: dict[str, Any]
    meta: pd.DataFrame

    def array(self, name: str) -> np.ndarray[Any, Any]:
        """The (N, H, W) array `name`, memory-mapped read-only."""
        if name not in self.manifest["arrays"]:
            raise InputError(self.root, f"has no {name!r} array (has: {', '.join(self.arrays)})")
        return np.load(self.root / f"{name}.npy", mmap_mode="r")

    @property
    def arrays(self) -> list[str]:
        return list(self.manifest["arrays"])

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    def split(self, name: str) -> pd.DataFrame:
        """Rows of the metadata table in split `name`."""
        return self.meta[self.meta["split"] == name]

    def __len__(self) -> int:
        return len(self.meta)

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays)


def check_manifest(manifest: Any, path: Path) -> tuple[int, int]:
    """(n_slices, size) of a parsed manifest, after checking that it is a medgen-slices one
    this medgen reads, with a whole count and size and the names of its arrays."""
    if not isinstance(manifest, dict):
        raise InputError(path, f"expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise InputError(path, f"not a {FORMAT} manifest")
    version = manifest.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(path, f"field 'format_version' is not a whole number: {version!r}")
    if version > FORMAT_VERSION:
        raise InputError(path, "written by a newer medgen; upgrade medgen to read it")
    arrays = manifest.get("arrays")
    if not isinstance(arrays, dict | list) or not all(isinstance(a, str) for a in arrays):
        raise InputError(path, "field 'arrays' is missing or does not name the arrays")
    return whole_field(manifest, "n_slices", 0, path), whole_field(manifest, "size", 1, path)


def whole_field(manifest: dict[str, Any], key: str, low: int, path: Path) -> int:
    """Manifest field `key`, a whole number >= low (InputError naming the manifest if not)."""
    value = manifest.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InputError(path, f"field {key!r} is missing or not a whole number >= {low}")
    return value


def open_dataset(root: str | Path) -> StoredDataset:
    """Open a dataset folder, checking its manifest, table and array shapes (InputError if bad)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "is not a dataset folder (no such folder)")
    manifest_path = root / "manifest.json"
    refuse_special(manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(root, "is not a medgen dataset (no manifest.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(manifest_path, f"unreadable manifest: {exc}") from None
    n, size = check_manifest(manifest, manifest_path)
    try:
        meta = pd.read_csv(root / "meta.csv", keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:  # ValueError: pandas' parser and empty-file errors
        raise InputError(root / "meta.csv", f"unreadable metadata table: {exc}") from None
    if len(meta) != n:
        raise InputError(root / "meta.csv", f"has {len(meta)} rows, manifest says {n}")
    for name in manifest["arrays"]:
        path = root / f"{name}.npy"
        try:
            shape = np.load(path, mmap_mode="r").shape
        except (OSError, ValueError) as exc:
            raise InputError(path, f"unreadable array: {exc}") from None
        if shape != (n, size, size):
            raise InputError(path, f"has shape {shape}, expected {(n, size, size)}")
    return StoredDataset(root=root, manifest=manifest, meta=normalise_meta(meta))
