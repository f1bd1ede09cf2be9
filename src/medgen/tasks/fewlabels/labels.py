"""One multi-class label map per slice, and the draws of the N labelled slices.

The classes are mutually exclusive per pixel: the synthetic lesions replace the tissue they grow
in, so oedema overwrites tissue and tumour overwrites oedema. One softmax over all classes (one
classifier, as Baranchuk et al. 2022 train theirs) then cannot label a pixel twice, which
separate heads could.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from medgen.data.store import StoredDataset
from medgen.data.synth.truth import TISSUES, is_builtin, tissue_labels
from medgen.exceptions import InputError, SettingError

LESIONS = ("oedema", "tumour")  # painted last, in this order: tumour wins over oedema
TRAIN = "train"  # the split the labelled slices are drawn from


class LabelMaps(NamedTuple):
    """(N, H, W) uint8 class indices and the class names they index."""

    maps: NDArray[np.uint8]
    classes: tuple[str, ...]


def _tissues(store: StoredDataset, ids: NDArray[np.int64]) -> LabelMaps:
    """Tissue classes where the generator made the data (their truth is known), else brain vs
    outside (an imported dataset has a brain mask but no tissue maps)."""
    if not is_builtin(store):
        brain = np.asarray(store.array("brain_mask")[ids]).astype(np.uint8)
        return LabelMaps(brain, ("background", "brain"))
    return LabelMaps(tissue_labels(store, ids).astype(np.uint8), ("background", *TISSUES))


def label_maps(store: StoredDataset, ids: NDArray[np.int64]) -> LabelMaps:
    """The slices' label maps: background, the tissues (or brain), oedema, tumour."""
    base = _tissues(store, ids)
    maps = base.maps.copy()
    for k, lesion in enumerate(LESIONS):
        mask = np.asarray(store.array(f"{lesion}_mask")[ids]).astype(bool)
        maps[mask] = len(base.classes) + k
    return LabelMaps(maps, base.classes + LESIONS)


def labelled_count(text: str) -> int | None:
    """N from "10", "30", ... (a positive count) or "all" (None); SettingError otherwise."""
    if text.strip().lower() == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise SettingError("labels", f"must be a positive count or 'all', got {text!r}") from None
    if n < 1:
        raise SettingError("labels", f"must be a positive count or 'all', got {n}")
    return n


def _shares(n: int, sizes: list[int]) -> list[int]:
    """n split as evenly as the strata's sizes allow (the first strata get the remainder)."""
    shares = [0] * len(sizes)
    for _ in range(n):
        open_ = [k for k, size in enumerate(sizes) if shares[k] < size]
        shares[min(open_, key=lambda k: shares[k])] += 1
    return shares


def draw_labelled(
    store: StoredDataset, n: int | None, draws: int, seed: int = 0
) -> list[NDArray[np.int64]]:
    """`draws` draws of n train slices (None: the whole split, each draw the same).

    Stratified by tumour type: the healthy slices and each tumour type (benign, malignant) get
    an even share of n (shifted where a stratum is too small), so every draw has tumours of
    every type to learn from, with and without oedema, whatever n is.
    """
    meta = store.split(TRAIN)
    ids = meta.index.to_numpy().astype(np.int64)
    if n is None:
        return [ids] * draws
    if n > len(ids):
        raise SettingError(
            "labels",
            f"asks for {n} labelled slices; {store.root} has {len(ids)} in its train split",
        )
    tumour = meta["label"].to_numpy() == 1
    if not tumour.any():
        raise InputError(store.root, "has no tumour slices in its train split to label")
    kind = np.where(tumour, meta["tumour_type"].astype(str).to_numpy(), "")  # "": healthy
    strata = [ids[kind == value] for value in np.unique(kind)]
    shares = _shares(n, [len(s) for s in strata])
    rng = np.random.default_rng(seed)
    return [
        np.sort(
            np.concatenate(
                [rng.choice(s, k, replace=False) for s, k in zip(strata, shares, strict=True)]
            )
        )
        for _ in range(draws)
    ]
