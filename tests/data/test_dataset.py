"""The torch Dataset over the on-disk format."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from medgen.data.dataset import SliceDataset


def test_filters_by_split_and_metadata(builtin_dataset: Path) -> None:
    ds = SliceDataset(builtin_dataset, split="dev", where={"location": ["brainstem", "cerebellum"]})
    assert len(ds) > 0
    assert set(ds.meta["split"]) == {"dev"}
    assert set(ds.meta["location"]) <= {"brainstem", "cerebellum"}
    healthy = SliceDataset(builtin_dataset, split="train", where=lambda m: m["label"] == 0)
    assert len(healthy) == 150


def test_items_are_tensors_with_a_channel_axis(builtin_dataset: Path) -> None:
    ds = SliceDataset(builtin_dataset, split="test", arrays=("images", "clean", "tumour_mask"))
    item = ds[0]
    assert item["image"].shape == (1, 64, 64) and item["image"].dtype == torch.float32
    assert item["clean"].shape == (1, 64, 64)
    assert item["tumour_mask"].dtype == torch.uint8
    assert item["label"] in (0, 1)


def test_loads_lazily_in_worker_processes(builtin_dataset: Path) -> None:
    ds = SliceDataset(builtin_dataset, split="train")
    batches = list(DataLoader(ds, batch_size=100, num_workers=2))
    assert sum(len(b["label"]) for b in batches) == 300
    assert torch.equal(batches[0]["image"][0], ds[0]["image"])
