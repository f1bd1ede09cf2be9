"""How fast does the segmentation net learn? Preprocess once, train variants, read the share of
dev tumours whose region (p > 1/2 component at the peak) touches the mask, per location, and
the share of healthy dev slices with any region.

    python experiments/scenario/seg_sweep.py DATA \
        --variants "16,32,64:800:2e-3:32 16,32,64:3200:5e-3:32:32"
      (channels:steps:lr:batch[:crop]; crop > 0 trains on crop x crop windows, each holding
       its slice's tumour, or a random brain pixel of a healthy slice, off-centre by up to crop/4)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from medgen.data.store import open_dataset
from medgen.detect.extract import (
    ExtractConfig,
    probabilities,
    region_of,
    segmentation_net,
    train_segmentation,
)
from medgen.detect.pipeline import split_train
from medgen.detect.preprocess import PreprocessConfig, preprocess


def crops(x, y, size, generator):
    """(B, 1, size, size) windows of x and y around a tumour pixel (healthy: a brain pixel)."""
    b, _, h, w = x.shape
    xs, ys = [], []
    for i in range(b):
        where = torch.nonzero(y[i, 0] > 0.5)
        if where.shape[0] == 0:
            where = torch.nonzero(x[i, 0] > 0)
        if where.shape[0] == 0:
            where = torch.tensor([[h // 2, w // 2]])
        r, c = where[torch.randint(where.shape[0], (1,), generator=generator)][0].tolist()
        jr, jc = (torch.randint(-(size // 4), size // 4 + 1, (2,), generator=generator)).tolist()
        top = min(max(r - size // 2 + jr, 0), h - size)
        left = min(max(c - size // 2 + jc, 0), w - size)
        xs.append(x[i, :, top : top + size, left : left + size])
        ys.append(y[i, :, top : top + size, left : left + size])
    return torch.stack(xs), torch.stack(ys)


def train_cropped(net, images, masks, cfg, size):
    generator = torch.Generator().manual_seed(cfg.seed)
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(masks.astype(np.float32)).unsqueeze(1)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    weight = torch.tensor(cfg.pos_weight)
    net.train()
    for _ in range(cfg.steps):
        pick = torch.randint(x.shape[0], (cfg.batch_size,), generator=generator)
        xb, yb = crops(x[pick], y[pick], size, generator)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), yb, pos_weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("--variants", required=True)
    p.add_argument("--dev", type=int, default=2000)
    p.add_argument("--pos-weight", type=float, default=20.0)
    args = p.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    seg_ids, _ = split_train(store, 0)
    cache = args.data / "pre_train.npy"
    if cache.exists():
        pre = np.load(cache)
    else:
        pre, _ = preprocess(
            np.asarray(store.array("images")[seg_ids], np.float32), PreprocessConfig()
        )
        np.save(cache, pre)
    masks = np.asarray(store.array("tumour_mask")[seg_ids]).astype(bool)
    dev = store.split("dev").index.to_numpy()[: args.dev]
    dpre, _ = preprocess(np.asarray(store.array("images")[dev], np.float32), PreprocessConfig())
    dmask = np.asarray(store.array("tumour_mask")[dev]).astype(bool)
    meta = store.meta.loc[dev]
    loc = meta["location"].to_numpy()
    for v in args.variants.split():
        ch, steps, lr, bs, *crop = v.split(":")
        channels = tuple(int(c) for c in ch.split(","))
        cfg = replace(
            ExtractConfig(),
            channels=channels,
            strides=(2,) * (len(channels) - 1),
            steps=int(steps),
            lr=float(lr),
            batch_size=int(bs),
            pos_weight=args.pos_weight,
        )
        torch.manual_seed(0)
        net = segmentation_net(cfg)
        t = time.perf_counter()
        if crop and int(crop[0]) > 0:
            train_cropped(net, pre, masks, cfg, int(crop[0]))
        else:
            train_segmentation(net, pre, masks, cfg)
        secs = time.perf_counter() - t
        prob = probabilities(net, dpre)
        regions = np.stack([region_of(q) for q in prob])
        hit = (regions & dmask).any(axis=(1, 2))
        anyreg = regions.any(axis=(1, 2))
        tum = dmask.any(axis=(1, 2))
        per = {name: hit[tum & (loc == name)].mean() for name in sorted(set(loc[tum]))}
        print(
            f"{v:24s} {secs:5.0f} s  found {hit[tum].mean():.3f}  healthy-with-region "
            f"{anyreg[~tum].mean():.3f}  " + " ".join(f"{k[:5]} {x:.2f}" for k, x in per.items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
