"""Dev sweep of the diffusion-feature segmenter: where white-matter errors sit, and which change
to the pixel classifier's input or output lifts white matter (and tumour) at N = 10 and 30.

Scored on dev slices only (the benchmark's table is on test). Each variant changes one thing
against the shipped defaults:
  base     the defaults (FeatureSettings, PixelSettings)
  context  each feature also averaged over 3x3 and 7x7 neighbourhoods (pixel context)
  image    the raw intensity and its 3x3 mean appended to the features
  smooth   class probabilities averaged over 3x3 before the argmax
  wide     5 members of (128, 64) instead of 3 of (64, 32)

    python experiments/segmentation/variants.py --data /tmp/std_data --dev 150 --draws 2 \
        --out experiments/segmentation/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

import medgen.tasks.fewlabels.segmenter as segmenter_module
from medgen.data.store import open_dataset
from medgen.reference.zoo import require
from medgen.tasks.fewlabels.command import open_feature_model
from medgen.tasks.fewlabels.features import diffusion_features
from medgen.tasks.fewlabels.labels import draw_labelled, label_maps
from medgen.tasks.fewlabels.pixels import PixelEnsemble
from medgen.tasks.fewlabels.segmenter import SegmenterSettings, fit_segmenter, segment
from medgen.tasks.fewlabels.table import class_dice

BASE_FEATURES = diffusion_features
BASE_PREDICT = PixelEnsemble.predict


def context_features(model, images, s):  # type: ignore[no-untyped-def]
    f = BASE_FEATURES(model, images, s)
    pooled = [F.avg_pool2d(f, k, stride=1, padding=k // 2, count_include_pad=False) for k in (3, 7)]
    return torch.cat([f, *pooled], dim=1)


def image_features(model, images, s):  # type: ignore[no-untyped-def]
    f = BASE_FEATURES(model, images, s)
    x = images.to(f.device).float()
    mean3 = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    return torch.cat([f, x, mean3], dim=1)


def smooth_predict(self, features):  # type: ignore[no-untyped-def]
    p = self.probabilities(features)
    return F.avg_pool2d(p, 3, stride=1, padding=1, count_include_pad=False).argmax(1)


VARIANTS: dict[str, tuple[Callable, Callable, dict]] = {
    "base": (BASE_FEATURES, BASE_PREDICT, {}),
    "context": (context_features, BASE_PREDICT, {}),
    "image": (image_features, BASE_PREDICT, {}),
    "smooth": (BASE_FEATURES, smooth_predict, {}),
    "wide": (BASE_FEATURES, BASE_PREDICT, {"members": 5, "hidden": (128, 64)}),
}


def boundary_share(pred: np.ndarray, truth: np.ndarray, c: int) -> float:
    """Share of class c's errors (FP + FN) within one pixel of the true class boundary."""
    t = truth == c
    edge = np.zeros_like(t)
    for k in range(len(t)):
        edge[k] = ndimage.binary_dilation(t[k]) & ~ndimage.binary_erosion(t[k])
    wrong = (pred == c) != t
    return float((wrong & edge).sum() / max(1, wrong.sum()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/tmp/std_data")
    parser.add_argument("--dev", type=int, default=150)
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--counts", default="10,30")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    model = open_feature_model(require("pixel_prior", store).folder, store.size)
    dev = store.split("dev").index.to_numpy().astype(np.int64)
    dev = np.sort(np.random.default_rng(0).choice(dev, args.dev, replace=False))
    truth = label_maps(store, dev)
    images = np.asarray(store.array("images")[dev], np.float32)
    classes = truth.classes
    wm, tumour = classes.index("white matter"), classes.index("tumour")
    for name in args.variants.split(","):
        features, predict, pixel_changes = VARIANTS[name]
        segmenter_module.diffusion_features = features  # type: ignore[assignment]
        PixelEnsemble.predict = predict  # type: ignore[method-assign]
        for n in (int(c) for c in args.counts.split(",")):
            for k, train in enumerate(draw_labelled(store, n, args.draws, seed=0)):
                start = time.perf_counter()
                s = SegmenterSettings()
                s = replace(s, pixels=replace(s.pixels, seed=k, **pixel_changes))
                labelled = label_maps(store, train)
                x = np.asarray(store.array("images")[train], np.float32)
                seg = fit_segmenter(model, x, labelled.maps, len(classes), s)
                pred = segment(seg, images)
                dice = class_dice(pred, truth.maps, len(classes))
                row = {
                    "variant": name, "n": n, "draw": k,
                    "wm": dice[wm], "tumour": dice[tumour],
                    "dice": dict(zip(classes, map(float, dice), strict=True)),
                    "wm_errors_at_boundary": boundary_share(pred, truth.maps, wm),
                    "seconds": time.perf_counter() - start,
                }  # fmt: skip
                print(json.dumps(row), flush=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
