"""Where the uniform-world detectors miss tumours, per location: not found by the segmentation
net (no region over the true tumour), or found and called "none" by the classifier; and the
size and contrast of the missed tumours against the caught ones.

python experiments/scenario/uniform_misses.py DATA/uniform RUNS/uniform-seed0 [RUNS/...] --split dev
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from medgen.data.store import open_dataset
from medgen.detect.pipeline import load_detector, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    store = open_dataset(args.data)
    meta = store.meta
    ids = meta.index[(meta["split"] == args.split) & (meta["tumour_type"] != "none")].to_numpy()
    masks = rows(store, "tumour_mask", np.sort(ids)).astype(bool)
    tables = []
    for run in args.runs:
        out = load_detector(run).run(store, np.sort(ids))
        overlap = (out.region & masks).any(axis=(1, 2))
        table = meta.loc[np.sort(ids), ["location", "tumour_type", "enhancing"]].copy()
        table["area"] = masks.sum(axis=(1, 2))
        table["found"] = overlap
        table["caught"] = out.prediction != "none"
        table["peak"] = out.probability.max(axis=(1, 2))
        table["run"] = run
        tables.append(table)
    t = pd.concat(tables)
    t["miss"] = ~t["caught"]
    by = t.groupby("location")
    summary = pd.DataFrame(
        {
            "tumours": by.size(),
            "recall": by["caught"].mean(),
            "not found": by.apply(lambda g: (~g["found"]).mean()),
            "found, called none": by.apply(lambda g: (g["found"] & g["miss"]).mean()),
            "missed area (median px)": by.apply(lambda g: g.loc[g["miss"], "area"].median()),
            "caught area (median px)": by.apply(lambda g: g.loc[~g["miss"], "area"].median()),
        }
    )
    print(summary.round(3).to_string())
    missed = t[t["miss"]]
    print("\nmisses by location x type x enhancing:")
    print(missed.groupby(["location", "tumour_type", "enhancing"]).size().to_string())


if __name__ == "__main__":
    main()
