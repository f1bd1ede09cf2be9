"""The joint model's brainstem tumours against the real ones, pair by pair: each real brainstem
training tumour is redrawn in its own slice, under its own mask and its own conditions (type,
appearance), so anatomy, position and mask are the same and only the model's pixels differ.
Prints, per condition cell, the median contrast against the ring (as the remedy's audit table)
of the real tumours and of the redrawn ones, over several seeds and inpainting margins.

python experiments/scenario/joint_paired.py DATA RUN [RUN ...] [--seeds 3] [--margins 2 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import ndimage

from medgen.data.store import open_dataset
from medgen.detect.extract import FEATURES, region_features
from medgen.errors.remedy.arms import attribute_conditions, inpainting_bases, slice_train_ids
from medgen.tasks.augment import inpaint_with_masks, joint_condition_names

CONTRAST = FEATURES.index("contrast")


def contrasts(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Each example's tumour contrast against its ring."""
    return np.array(
        [region_features(x, m.astype(np.float32), m)[CONTRAST] for x, m in zip(images, masks)]
    )


def aligned_masks(sources: np.ndarray, masks: np.ndarray, bases: np.ndarray, reach: int = 6,
                  context: int = 7, lesion: int = 3) -> np.ndarray:
    """Each mask moved to where its base's anatomy matches the source's around the lesion: the
    shift within `reach` px that best correlates the source's neighbourhood (within `context`
    px of the mask, the lesion and `lesion` px around it left out) with the base's."""
    out = np.zeros_like(masks)
    size = masks.shape[-1]
    for i, (src, mask, base) in enumerate(zip(sources, masks, bases)):
        near = ndimage.binary_dilation(mask, iterations=context)
        used = near & ~ndimage.binary_dilation(mask, iterations=lesion)
        rows, cols = np.nonzero(used)
        a = src[rows, cols] - src[rows, cols].mean()
        best, shift = -np.inf, (0, 0)
        for dr in range(-reach, reach + 1):
            for dc in range(-reach, reach + 1):
                r, c = rows + dr, cols + dc
                ok = (r >= 0) & (r < size) & (c >= 0) & (c < size)
                if ok.mean() < 0.9:
                    continue
                b = base[r[ok], c[ok]] - base[r[ok], c[ok]].mean()
                score = float(a[ok] @ b) / (np.linalg.norm(a[ok]) * np.linalg.norm(b) + 1e-8)
                if score > best:
                    best, shift = score, (dr, dc)
        out[i] = ndimage.shift(mask.astype(np.uint8), shift, order=0, mode="constant") > 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--margins", type=int, nargs="+", default=[2])
    parser.add_argument("--bases", choices=["own", "healthy", "aligned"], default="own",
                        help="draw into the tumour's own slice, a healthy slice near its level "
                        "(as the inpaint arm), or that slice with the mask moved to the matching "
                        "anatomy")
    args = parser.parse_args()
    store = open_dataset(args.data)
    ids = np.sort(slice_train_ids(store, {"location": "brainstem"}))
    images = np.asarray(store.array("images")[ids], np.float32)
    masks = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    meta = store.meta.loc[ids]
    cell = (meta["tumour_type"].astype(str) + " enh=" + meta["enhancing"].astype(str)).to_numpy()
    table = {"n": pd.Series(cell).value_counts(), "real": pd.Series(contrasts(images, masks), index=cell).groupby(level=0).median()}
    for run in args.runs:
        names = joint_condition_names(run)
        conditions = attribute_conditions(store, {"location": "brainstem"}, names, ids)
        for margin in args.margins:
            drawn = []
            for s in range(args.seeds):
                bases, under = images, masks
                if args.bases != "own":
                    bases = np.asarray(
                        store.array("images")[inpainting_bases(store, ids, len(ids), s)], np.float32
                    )
                    under = aligned_masks(images, masks, bases) if args.bases == "aligned" else masks
                made = inpaint_with_masks(run, bases, under, conditions, seed=s, margin=margin)
                drawn.append(contrasts(made, under))
            values = pd.Series(np.concatenate(drawn), index=np.tile(cell, args.seeds))
            table[f"{run.rstrip('/').split('/')[-1]} m{margin}"] = values.groupby(level=0).median()
    print(pd.DataFrame(table).round(3).to_string())


if __name__ == "__main__":
    main()
