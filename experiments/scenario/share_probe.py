"""How much of the train split should the classify part get? Train detectors with the classifier's
held-out share of the train split set to SHARE (the segmentation net gets the rest) on the
uniform and default worlds, and print tumour recall by location (uniform) and accuracy (default)
on one split.

    python experiments/scenario/share_probe.py DATA RUNS --share 0.4 --seed 0 --split dev
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import medgen.detect.pipeline as pipeline
from medgen.data.store import open_dataset
from medgen.detect import load_detector
from medgen.detect.pipeline import detector_config, train_detector
from medgen.errors.remedy.detectors import seeded
from medgen.study.profiles import get_profile


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path, help="folder with uniform/ and default/")
    p.add_argument("runs", type=Path)
    p.add_argument("--share", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="dev")
    p.add_argument("--classify-steps", type=int)
    args = p.parse_args()
    torch.set_num_threads(1)
    pipeline.CLASSIFIER_SHARE = args.share
    steps = get_profile("standard").detector_steps
    config = seeded(detector_config(steps, 0, args.classify_steps), args.seed)
    rows = {}
    for world in ("uniform", "default"):
        store = open_dataset(args.data / world)
        out = args.runs / f"share{args.share}-{world}-seed{args.seed}"
        if not out.exists():
            s = train_detector(store.root, out, config, overwrite=True, log=lambda _: None)
            print(f"{world}: trained in {s['seconds']} s", flush=True)
        ids = store.split(args.split).index.to_numpy()
        pred = load_detector(out).run(store, ids).prediction
        meta = store.meta.loc[ids]
        truth = meta["tumour_type"].astype(str).to_numpy()
        t = truth != "none"
        loc = meta["location"].astype(str).to_numpy()
        recall = pd.Series((pred != "none")[t]).groupby(loc[t]).mean()
        rows[world] = {
            "accuracy": float((pred == truth).mean()),
            "healthy": float((pred[~t] == "none").mean()),
            "min_recall": float(recall.min()),
            "min_loc": recall.idxmin(),
            "brainstem_err": float(np.mean((pred != truth)[t & (loc == "brainstem")])),
            "elsewhere_err": float(np.mean((pred != truth)[t & (loc != "brainstem")])),
        }
        print(world, recall.round(3).to_dict(), flush=True)
    print(pd.DataFrame(rows).T.round(3).assign(share=args.share, seed=args.seed).to_string())


if __name__ == "__main__":
    main()
