"""A `torch.utils.data.Dataset` over the on-disk format: lazy, filtered by split and metadata."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from medgen.data.store import StoredDataset, open_dataset

Filter = Mapping[str, Any] | Callable[[pd.DataFrame], "pd.Series[bool]"]


def select(meta: pd.DataFrame, split: str | None = None, where: Filter | None = None) -> np.ndarray:
    """Row ids of `meta` in `split` that match `where` (column -> value or list of values, or a
    function of the table returning a boolean mask)."""
    keep = pd.Series(True, index=meta.index)
    if split is not None:
        keep &= meta["split"] == split
    if callable(where):
        keep &= where(meta).astype(bool)
    elif where is not None:
        for column, wanted in where.items():
            if column not in meta:
                raise KeyError(f"no metadata column {column!r}")
            values = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
            keep &= meta[column].isin(values)
    return meta.index[keep.to_numpy()].to_numpy()


class SliceDataset(Dataset[dict[str, Any]]):
    """Slices of a medgen dataset as dicts of tensors: `image` (1, H, W) float32, the other
    requested arrays under their own names, `label` (int) and `index` (row id).

    Arrays are memory-mapped on first access in each process, so DataLoader workers share pages.

    Example: `SliceDataset("data", split="train", where={"location": ["brainstem", "cerebellum"]})`
    """

    def __init__(
        self,
        root: str | Path | StoredDataset,
        split: str | None = "train",
        where: Filter | None = None,
        arrays: Sequence[str] = ("images",),
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.store = root if isinstance(root, StoredDataset) else open_dataset(root)
        for name in arrays:
            self.store.array(name)  # fail now, not inside a worker, on a missing array
        self.arrays = tuple(arrays)
        self.ids = select(self.store.meta, split, where)
        self.meta = self.store.meta.iloc[self.ids].reset_index(drop=True)
        self.transform = transform
        self._maps: dict[str, np.ndarray[Any, Any]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = int(self.ids[i])
        item: dict[str, Any] = {"index": row, "label": int(self.store.meta.at[row, "label"])}
        for name in self.arrays:
            if name not in self._maps:
                self._maps[name] = self.store.array(name)
            key = "image" if name == "images" else name
            item[key] = torch.from_numpy(np.array(self._maps[name][row])).unsqueeze(0)  # (1, H, W)
        return self.transform(item) if self.transform is not None else item

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = {}  # memory maps are reopened in each worker process
        return state
