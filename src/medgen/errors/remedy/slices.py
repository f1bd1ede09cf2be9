"""The failing slice in a dataset: parsed from the command line, its rows and its tumours."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medgen.data.conditions import condition_values
from medgen.data.store import StoredDataset
from medgen.errors.remedy.plan import Added
from medgen.exceptions import SettingError


def parse_slice(text: str, store: StoredDataset) -> dict[str, str]:
    """{"location": "brainstem"} from "location=brainstem", checked against the metadata."""
    try:
        values = condition_values(text)
    except ValueError as err:
        raise SettingError("slice", str(err)) from None
    if not values:
        raise SettingError("slice", "name the failing slice, e.g. location=brainstem")
    for column, value in values.items():
        if column not in store.meta:
            raise SettingError("slice", f"no metadata column {column!r}")
        if value not in set(store.meta[column].astype(str)):
            raise SettingError("slice", f"no slice has {column}={value}")
    return values


def in_slice(meta: pd.DataFrame, values: dict[str, str]) -> np.ndarray:
    """Boolean mask of the rows of `meta` in the slice."""
    keep = np.ones(len(meta), dtype=bool)
    for column, value in values.items():
        keep &= meta[column].astype(str).to_numpy() == value
    return keep


def slice_train_ids(store: StoredDataset, values: dict[str, str]) -> np.ndarray:
    """Training rows in the slice (tumour slices only: the remedy adds tumours)."""
    train = store.split("train")
    keep = in_slice(train, values) & (train["label"].to_numpy() == 1)
    return train.index.to_numpy()[keep]


def slice_tumours(store: StoredDataset, values: dict[str, str]) -> Added:
    """The slice's training tumours."""
    ids = slice_train_ids(store, values)
    return Added(
        np.asarray(store.array("images")[ids], dtype=np.float32),
        np.asarray(store.array("tumour_mask")[ids]).astype(bool),
        store.meta.loc[ids, "tumour_type"].astype(str).to_numpy(),
        ids.astype(np.int64),
    )


def tumours_in(
    store: StoredDataset, values: dict[str, str], ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The slice's tumours among rows `ids`, in row order, as (images, masks)."""
    meta = store.meta.loc[ids]
    tumours = np.sort(ids[in_slice(meta, values) & (meta["label"].to_numpy() == 1)])
    images = np.asarray(store.array("images")[tumours], dtype=np.float32)
    return images, np.asarray(store.array("tumour_mask")[tumours]).astype(bool)
