"""The predictions folder: the one format the detector writes and the workbench reads.

    PRED/predictions.csv   one row per example: id, truth, prediction, optional score_<class>,
                           plus metadata columns copied from the dataset (location, tumour_px, ...)
    PRED/predictions.json  {"model_version", "split", "data", "content_hash", "created",
                            optional "classes", optional "image_size"}

The CSV is written first and the JSON last, each atomically: a folder with a JSON file is whole.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgen.detect.classify import CLASSES
from medgen.exceptions import InputError
from medgen.fileio import read_json_object, write_json_atomic, write_text_atomic

CSV_NAME = "predictions.csv"
JSON_NAME = "predictions.json"
REQUIRED_COLUMNS = ("id", "truth", "prediction")
REQUIRED_KEYS = ("model_version", "split", "data", "content_hash", "created")


@dataclass(frozen=True)
class Predictions:
    """One model version's predictions on one split, with the dataset metadata of each example."""

    table: pd.DataFrame  # one row per example, indexed 0..n-1, column `id` unique
    model_version: str
    split: str
    data: str  # the dataset folder the predictions were made on
    content_hash: str  # the dataset's content hash: the key of its split in the store
    created: str  # ISO time
    classes: tuple[str, ...]
    image_size: int | None
    path: Path  # the predictions folder

    @property
    def ids(self) -> np.ndarray:
        """The example ids, in table order."""
        return self.table["id"].to_numpy(dtype=np.int64)

    @property
    def is_error(self) -> np.ndarray:
        """True where the prediction differs from the truth."""
        return (self.table["truth"] != self.table["prediction"]).to_numpy()

    @property
    def error_rate(self) -> float:
        """The fraction of examples predicted wrongly."""
        return float(self.is_error.mean())


def check_table(table: pd.DataFrame, classes: Sequence[str], where: str | Path) -> pd.DataFrame:
    """Return a clean copy of `table` (ids int64, classes str), or an InputError naming `where`."""
    if len(table) == 0:
        raise InputError(where, "has no rows")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(where, f"missing column(s) {', '.join(missing)}")
    out = table.reset_index(drop=True).copy()
    ids = pd.to_numeric(out["id"], errors="coerce")
    if ids.isna().any() or (ids % 1 != 0).any() or (ids < 0).any():
        raise InputError(where, "column id must hold non-negative integers")
    out["id"] = ids.astype(np.int64)
    duplicated = out["id"][out["id"].duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:5]))
        raise InputError(where, f"duplicate id(s) {shown}")
    for column in ("truth", "prediction"):
        if out[column].isna().any():
            raise InputError(where, f"column {column} has empty values")
        out[column] = out[column].astype(str)
        unknown = sorted(set(out[column]) - set(classes))
        if unknown:
            raise InputError(
                where,
                f"unknown class(es) {', '.join(unknown)} in {column} (known: {', '.join(classes)})",
            )
    scores = [c for c in out.columns if str(c).startswith("score_")]
    unknown_scores = [c for c in scores if str(c)[len("score_") :] not in classes]
    if unknown_scores:
        raise InputError(where, f"score column(s) for unknown classes: {', '.join(unknown_scores)}")
    return out


def _check_meta(meta: dict[str, Any], where: Path) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise InputError(where, f"missing key(s) {', '.join(missing)}")
    for key in REQUIRED_KEYS:
        if not isinstance(meta[key], str) or not meta[key]:
            raise InputError(where, f"{key} must be a non-empty string")
    classes = meta.get("classes", list(CLASSES))
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise InputError(where, "classes must be a non-empty list of strings")
    size = meta.get("image_size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise InputError(where, "image_size must be a positive integer")


def read_predictions(folder: str | Path) -> Predictions:
    """Read a predictions folder, refusing bad input with one InputError naming file and problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such predictions folder")
    meta_path, csv_path = folder / JSON_NAME, folder / CSV_NAME
    if not meta_path.exists():
        raise InputError(folder, f"not a predictions folder (no {JSON_NAME})")
    meta = read_json_object(meta_path)
    _check_meta(meta, meta_path)
    classes = tuple(meta.get("classes", CLASSES))
    if not csv_path.exists():
        raise InputError(csv_path, "no such file")
    try:
        raw = pd.read_csv(csv_path, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise InputError(csv_path, "is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(csv_path, f"is not a valid CSV ({err})") from None
    table = check_table(raw, classes, csv_path)
    return Predictions(
        table=table,
        model_version=meta["model_version"],
        split=meta["split"],
        data=meta["data"],
        content_hash=meta["content_hash"],
        created=meta["created"],
        classes=classes,
        image_size=meta.get("image_size"),
        path=folder,
    )


def write_predictions(
    folder: str | Path,
    table: pd.DataFrame,
    model_version: str,
    split: str,
    data: str | Path,
    content_hash: str,
    *,
    classes: Sequence[str] = CLASSES,
    image_size: int | None = None,
    created: str | None = None,
) -> Path:
    """Write `table` and its provenance as a predictions folder (CSV then JSON, each atomic)."""
    folder = Path(folder)
    table = check_table(table, classes, "predictions table")
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    write_text_atomic(folder / CSV_NAME, buffer.getvalue())
    meta: dict[str, Any] = {
        "model_version": model_version,
        "split": split,
        "data": str(data),
        "content_hash": content_hash,
        "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "classes": list(classes),
    }
    if image_size is not None:
        meta["image_size"] = int(image_size)
    write_json_atomic(folder / JSON_NAME, meta)
    return folder
