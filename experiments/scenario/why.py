"""Why are tumours missed? For one detector on dev: recall by location x enhancing, by size and
contrast; and whether the segmenter found the region (region touches mask) but the classifier
called it none.

    python experiments/scenario/why.py DATA DETECTOR [--split dev]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from medgen.detect import load_detector


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("run", type=Path)
    p.add_argument("--split", default="dev")
    args = p.parse_args()
    store = open_dataset(args.data)
    meta = store.split(args.split)
    ids = meta.index[(meta.label == 1).to_numpy()].to_numpy()
    out = load_detector(args.run).run(store, ids)
    masks = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    m = store.meta.loc[ids].copy()
    m["found_region"] = (out.region & masks).any(axis=(1, 2))
    m["peak_in_mask"] = [float(p[k].max()) for p, k in zip(out.probability, masks, strict=True)]
    m["called"] = out.prediction != "none"
    m["right"] = out.prediction == m["tumour_type"].astype(str).to_numpy()
    m["size"] = pd.qcut(m["tumour_px"], 4)
    m["contrast_q"] = pd.qcut(m["tumour_contrast"], 4)
    cols = ["found_region", "called", "right", "peak_in_mask"]
    pd.set_option("display.width", 200)
    print(
        m.groupby(["location", "enhancing"])[cols]
        .mean()
        .round(3)
        .assign(n=m.groupby(["location", "enhancing"]).size())
    )
    print(m.groupby("size", observed=True)[cols].mean().round(3))
    print(m.groupby("contrast_q", observed=True)[cols].mean().round(3))
    print(m.groupby(["tumour_type", "enhancing"])[cols].mean().round(3))
    print("found region but called none:", float((m.found_region & ~m.called).mean()))


if __name__ == "__main__":
    main()
