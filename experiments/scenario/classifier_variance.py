"""How much of the uniform world's brainstem recall is the classifier's seed, and which way of
training the classify part takes the spread out. The segmentation nets of trained detectors are
kept; only the classifier is retrained, over several seeds, for each variant:

- base: `train_classifier` as in src;
- ema: the same steps, the weights' exponential moving average (decay 0.99) kept at the end;
- smooth: cross-entropy with label smoothing 0.1;
- ensK: class probabilities averaged over K base classifiers of distinct seeds (no new training).

    python experiments/scenario/classifier_variance.py DATA/uniform RUNS/uniform-seed0 \
        RUNS/uniform-seed2 --split dev --seeds 6 --variants base,ema,smooth
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from medgen.data.store import open_dataset
from medgen.detect import load_detector
from medgen.detect.classify import (
    CLASSES,
    RegionClassifier,
    class_indices,
    class_probabilities,
    train_classifier,
)
from medgen.detect.pipeline import rows, split_train


def train_variant(feats, labels, cfg, wins, ema_decay=0.0, smoothing=0.0) -> RegionClassifier:
    """train_classifier's loop (same seed use), with weight EMA or label smoothing."""
    x = torch.from_numpy(feats.astype(np.float32))
    y = torch.from_numpy(labels)
    crops = torch.from_numpy(np.asarray(wins, np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = RegionClassifier(x.shape[1], cfg.hidden, cfg.window)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp_min(1e-3))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    average = copy.deepcopy(model) if ema_decay else None
    model.train()
    for _ in range(cfg.steps):
        pick = torch.randint(x.shape[0], (min(cfg.batch_size, x.shape[0]),), generator=g)
        batch = crops[pick]
        flip = torch.rand(len(pick), generator=g) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        loss = F.cross_entropy(model(x[pick], batch), y[pick], label_smoothing=smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if average is not None:
            with torch.no_grad():
                for a, p in zip(average.parameters(), model.parameters(), strict=True):
                    a.lerp_(p, 1 - ema_decay)
    return (average or model).eval()


def scores(probs, true_type, loc, found) -> dict:
    pred = np.asarray(CLASSES)[probs.argmax(1)]
    t = true_type != "none"
    rec = pd.Series((pred != "none")[t]).groupby(loc[t]).mean()
    bs = t & (loc == "brainstem")
    return {
        "accuracy": float((pred == true_type).mean()),
        "min_recall": float(rec.min()),
        "min_loc": rec.idxmin(),
        "brainstem_recall": float(rec["brainstem"]),
        "brainstem_found": float(found[bs].mean()),
        "brainstem_right": float((pred == true_type)[bs].mean()),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--split", default="dev")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--variants", default="base,ema,smooth")
    p.add_argument("--ensemble", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    rows_out = []
    for run in args.runs:
        detector = load_detector(run)
        _, cls_ids = split_train(store, detector.config.seed)
        held = detector.run(store, cls_ids)
        held_wins = detector.windows(held.preprocessed, held.probability, held.region)
        truth = class_indices(store.meta.loc[cls_ids, "tumour_type"].astype(str).to_numpy())
        ids = np.sort(store.split(args.split).index.to_numpy())
        out = detector.run(store, ids)
        wins = detector.windows(out.preprocessed, out.probability, out.region)
        meta = store.meta.loc[ids]
        true_type = meta["tumour_type"].astype(str).to_numpy()
        loc = meta["location"].astype(str).to_numpy()
        found = (out.region & rows(store, "tumour_mask", ids).astype(bool)).any(axis=(1, 2))
        base_probs = []
        for variant in args.variants.split(","):
            for seed in range(args.seeds):
                cfg = replace(detector.config.classify, seed=seed)
                if variant == "base":
                    model = train_classifier(held.features, truth, cfg, held_wins)
                elif variant == "ema":
                    model = train_variant(held.features, truth, cfg, held_wins, ema_decay=0.99)
                elif variant == "smooth":
                    model = train_variant(held.features, truth, cfg, held_wins, smoothing=0.1)
                else:
                    raise SystemExit(f"unknown variant {variant}")
                probs = class_probabilities(model, out.features, wins)
                if variant == "base":
                    base_probs.append(probs)
                row = {"run": run.name, "variant": variant, "seed": seed}
                rows_out.append(row | scores(probs, true_type, loc, found))
                print(rows_out[-1], flush=True)
        k = args.ensemble
        for start in range(0, len(base_probs) - k + 1, k):
            probs = np.mean(base_probs[start : start + k], axis=0)
            row = {"run": run.name, "variant": f"ens{k}", "seed": start}
            rows_out.append(row | scores(probs, true_type, loc, found))
    table = pd.DataFrame(rows_out)
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))
    summary = table.groupby(["run", "variant"])[
        ["accuracy", "brainstem_recall", "min_recall", "brainstem_right"]
    ].agg(["mean", "std", "min"])
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
