"""Retrain only the classify part of a trained detector, with variants of its training, and
measure tumour recall by location and accuracy on one split. The segmentation net is kept, so
the variants differ only in what the classifier learns.

    python experiments/scenario/classifier_probe.py DATA DETECTOR --split dev \
        --variants base,steps1500,weighted
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medgen.data.store import open_dataset
from medgen.detect import load_detector
from medgen.detect.classify import CLASSES, class_indices, class_probabilities, train_classifier
from medgen.detect.pipeline import split_train


def held_out(detector, store, ids):
    out = detector.run(store, ids)
    windows = detector.windows(out.preprocessed, out.probability, out.region)
    return out.features, windows


def variant_config(base, name: str):
    if name == "base":
        return base
    if name.startswith("steps"):
        return replace(base, steps=int(name[5:]))
    if name.startswith("hidden"):
        return replace(base, hidden=int(name[6:]))
    if name.startswith("seed"):
        return replace(base, seed=int(name[4:]))
    if name.startswith("lr"):
        return replace(base, lr=float(name[2:]))
    raise SystemExit(f"unknown variant {name}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("run", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--variants", default="base")
    p.add_argument("--none-threshold", type=float, nargs="*", default=[0.5])
    args = p.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    detector = load_detector(args.run)
    _, cls_ids = split_train(store, detector.config.seed)
    feats, wins = held_out(detector, store, cls_ids)
    truth = class_indices(store.meta.loc[cls_ids, "tumour_type"].astype(str).to_numpy())
    ids = store.split(args.split).index.to_numpy()
    out = detector.run(store, ids)
    eval_wins = detector.windows(out.preprocessed, out.probability, out.region)
    meta = store.meta.loc[ids]
    true_type = meta["tumour_type"].astype(str).to_numpy()
    loc = meta["location"].astype(str).to_numpy()
    rows = []
    for name in args.variants.split(","):
        cfg = variant_config(detector.config.classify, name)
        model = train_classifier(feats, truth, cfg, wins)
        probs = class_probabilities(model, out.features, eval_wins)
        for th in args.none_threshold:
            # "none" only when its probability exceeds th; else the likelier tumour type
            tumour_pick = np.where(probs[:, 1] >= probs[:, 2], "benign", "malignant")
            pred = np.where(probs[:, 0] > th, "none", tumour_pick)
            if th == 0.5:  # the detector's own rule: the likeliest class
                pred = np.asarray(CLASSES)[probs.argmax(1)]
            t = true_type != "none"
            rec = pd.Series((pred != "none")[t]).groupby(loc[t]).mean()
            right = pd.Series((pred == true_type)[t]).groupby(loc[t]).mean()
            rows.append(
                {
                    "variant": name,
                    "none_th": th,
                    "accuracy": float((pred == true_type).mean()),
                    "healthy_acc": float((pred[~t] == "none").mean()),
                    "min_recall": float(rec.min()),
                    "min_loc": rec.idxmin(),
                    "brainstem_recall": float(rec["brainstem"]),
                    "brainstem_right": float(right["brainstem"]),
                    "elsewhere_right": float(right.drop("brainstem").mean()),
                }
            )
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
