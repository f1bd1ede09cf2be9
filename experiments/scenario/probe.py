"""Probe one world: make (or reuse) a dataset from a config, train a detector, read dev by location.

python experiments/scenario/probe.py --config CFG.json --out DIR [--uniform] [--steps 800]
    [--seeds 0] [--split dev] [--channels 16,32,64] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from medgen.data.store import open_dataset
from medgen.data.synth import make_dataset
from medgen.data.synth.config import LOCATIONS, ScenarioConfig, resolve_config
from medgen.detect import DetectorConfig, load_detector, train_detector
from medgen.errors.remedy.detectors import seeded


def table(store, ids, prediction) -> dict[str, float]:
    meta = store.meta.loc[ids]
    truth = meta["tumour_type"].astype(str).to_numpy()
    tumour = truth != "none"
    found = prediction != "none"
    out = {"acc": float((prediction == truth).mean()), "healthy_fp": float(found[~tumour].mean())}
    for loc in LOCATIONS:
        keep = tumour & (meta["location"].to_numpy() == loc)
        out[f"rec_{loc}"] = float(found[keep].mean())
        out[f"err_{loc}"] = float((prediction[keep] != truth[keep]).mean())
    bs = tumour & (meta["location"].to_numpy() == "brainstem")
    other = tumour & ~bs
    out["err_bs"] = float((prediction[bs] != truth[bs]).mean())
    out["err_else"] = float((prediction[other] != truth[other]).mean())
    out["type_err_found"] = float((prediction[tumour & found] != truth[tumour & found]).mean())
    wrong = prediction != truth
    out["bs_share"] = float((wrong & bs).sum() / max(wrong.sum(), 1))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--uniform", action="store_true")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--seeds", default="0")
    p.add_argument("--split", default="dev")
    p.add_argument("--channels", default="16,32,64")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--pos-weight", type=float, default=None)
    p.add_argument("--crop", type=int, default=None, help="window side in px at 64 px")
    p.add_argument("--data", type=Path, help="use this dataset folder")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = resolve_config(args.config)
    if args.uniform:
        uniform = {loc: 1.0 for loc in LOCATIONS}
        cfg = replace(cfg, scenario=ScenarioConfig(location_prevalence={"train": uniform}))
    data = args.data or args.out / ("uniform" if args.uniform else "default")
    if not (data / "manifest.json").exists():
        t = time.perf_counter()
        make_dataset(data, cfg, workers=2, overwrite=True)
        print(f"data {time.perf_counter() - t:.0f} s")
    store = open_dataset(data)
    m = store.meta
    tum = m[m.label == 1]
    print("median tumour px by location:", tum.groupby("location").tumour_px.median().to_dict())
    ids = store.split(args.split).index.to_numpy()
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    for k in [int(s) for s in args.seeds.split(",")]:
        config = seeded(DetectorConfig(), k)
        ch = tuple(int(c) for c in args.channels.split(","))
        extra = {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "channels": ch,
            "strides": (2,) * (len(ch) - 1),
        }
        if args.lr:
            extra["lr"] = args.lr
        if args.crop is not None:
            extra["window"] = args.crop / 64
        if args.pos_weight:
            extra["pos_weight"] = args.pos_weight
        config.extract = replace(config.extract, **extra)
        run = args.out / f"det-{data.name}-{args.steps}-{args.channels}-{k}"
        t = time.perf_counter()
        summary = train_detector(data, run, config, overwrite=True, log=lambda _: None)
        secs = time.perf_counter() - t
        seg_s = summary["segmentation"]["seconds"]
        pred = load_detector(run).run(store, ids).prediction
        rows.append(
            {"seed": k, "train_s": round(secs), "seg_s": round(seg_s), **table(store, ids, pred)}
        )
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    print(df.T.to_string(float_format="{:.3f}".format))
    (args.out / f"probe-{data.name}-{args.steps}-{args.channels}.json").write_text(
        json.dumps(rows, indent=1)
    )


if __name__ == "__main__":
    main()
