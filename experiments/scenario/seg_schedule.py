"""Does the segmentation net's learning-rate schedule decide how many dev tumours it finds, and
how much that varies with the seed? The net trains as `train_segmentation` does (windows,
Adam, 3,000 steps at 5e-3), with a constant rate (src) or a cosine decay to zero; dev tumours
found (the region at the peak touches the mask) per location, healthy slices with a region.

    python experiments/scenario/seg_schedule.py DATA/uniform --seeds 0 1 2 3 \
        --variants constant cosine
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from medgen.data.store import open_dataset
from medgen.detect.extract import (
    ExtractConfig,
    probabilities,
    region_of,
    segmentation_net,
    training_windows,
    window_centres,
)
from medgen.detect.pipeline import rows, split_train
from medgen.detect.preprocess import PreprocessConfig, preprocess
from medgen.devices import in_layout


def train(images, masks, cfg: ExtractConfig, schedule: str):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = segmentation_net(cfg)
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(masks.astype(np.float32)).unsqueeze(1)
    size = round(cfg.window * min(x.shape[-2:]))
    centres = window_centres(x, y)
    in_layout(net, torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, foreach=True)
    weight = torch.tensor(cfg.pos_weight)
    net.train()
    for step in range(cfg.steps):
        if schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        pick = torch.randint(x.shape[0], (cfg.batch_size,), generator=g)
        xb, yb = training_windows(x, y, pick, centres, size, g)
        logits = net(xb.contiguous(memory_format=torch.channels_last))
        loss = F.binary_cross_entropy_with_logits(logits, yb, pos_weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    in_layout(net, torch.contiguous_format)
    return net.eval()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--variants", nargs="+", default=["constant", "cosine"])
    p.add_argument("--split", default="dev")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    store = open_dataset(args.data)
    ids = np.sort(store.split(args.split).index.to_numpy())
    dev, _ = preprocess(rows(store, "images", ids).astype(np.float32), PreprocessConfig())
    truth = rows(store, "tumour_mask", ids).astype(bool)
    loc = store.meta.loc[ids, "location"].astype(str).to_numpy()
    tumour = store.meta.loc[ids, "tumour_type"].astype(str).to_numpy() != "none"
    out = []
    for seed in args.seeds:
        seg_ids, _ = split_train(store, seed)
        pre, _ = preprocess(rows(store, "images", seg_ids).astype(np.float32), PreprocessConfig())
        masks = rows(store, "tumour_mask", seg_ids).astype(bool)
        for variant in args.variants:
            start = time.perf_counter()
            cfg = ExtractConfig(seed=seed)
            net = train(pre, masks, cfg, variant)
            prob = probabilities(net, dev)
            region = np.stack([region_of(pm) for pm in prob])
            found = (region & truth).any(axis=(1, 2))
            per_loc = pd.Series(found[tumour]).groupby(loc[tumour]).mean()
            row = {"seed": seed, "variant": variant, "seconds": round(time.perf_counter() - start)}
            row |= {"found_all": float(found[tumour].mean()), "min_loc": per_loc.idxmin()}
            row |= {"found_min": float(per_loc.min()), "brainstem": float(per_loc["brainstem"])}
            row |= {"healthy_region": float(region[~tumour].any(axis=(1, 2)).mean())}
            out.append(row)
            print(row, flush=True)
    table = pd.DataFrame(out)
    print(table.round(3).to_string(index=False))
    print(table.groupby("variant")[["found_all", "found_min", "brainstem"]].agg(["mean", "std"]))


if __name__ == "__main__":
    main()
