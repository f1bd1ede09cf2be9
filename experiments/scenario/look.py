"""Picture and measure tumours after preprocessing: rows of (raw, preprocessed, clean) per tumour,
and the lesion's contrast against a 2-px ring, raw and preprocessed, by location.

    python experiments/scenario/look.py DATA OUT.png [--location brainstem] [--n 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from medgen.data.store import open_dataset
from medgen.data.synth.config import LOCATIONS
from medgen.detect.preprocess import PreprocessConfig, preprocess


def ring_contrast(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    out = []
    for x, m in zip(images, masks, strict=True):
        ring = ndimage.binary_dilation(m, iterations=2) & ~m & (x > 0)
        out.append(x[m].mean() - x[ring].mean() if ring.any() else np.nan)
    return np.array(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--location", default="brainstem")
    p.add_argument("--n", type=int, default=8)
    args = p.parse_args()
    s = open_dataset(args.data)
    meta = s.split("dev")
    for loc in LOCATIONS:
        ids = meta.index[(meta.location == loc).to_numpy()].to_numpy()[:200]
        x = np.asarray(s.array("images")[ids], np.float32)
        m = np.asarray(s.array("tumour_mask")[ids]).astype(bool)
        pre, _ = preprocess(x, PreprocessConfig())
        raw_c, pre_c = ring_contrast(x, m), ring_contrast(pre, m)
        enh = meta.loc[ids, "enhancing"].to_numpy() == 1
        print(
            f"{loc:10s} px {np.median(m.sum((1, 2))):5.0f}  raw contrast enh "
            f"{np.nanmedian(raw_c[enh]) if enh.any() else np.nan:+.3f} non-enh "
            f"{np.nanmedian(raw_c[~enh]) if (~enh).any() else np.nan:+.3f}  preprocessed enh "
            f"{np.nanmedian(pre_c[enh]) if enh.any() else np.nan:+.3f} non-enh "
            f"{np.nanmedian(pre_c[~enh]) if (~enh).any() else np.nan:+.3f}"
        )
    ids = meta.index[(meta.location == args.location).to_numpy()].to_numpy()[: args.n]
    x = np.asarray(s.array("images")[ids], np.float32)
    c = np.asarray(s.array("clean")[ids], np.float32)
    m = np.asarray(s.array("tumour_mask")[ids]).astype(bool)
    pre, _ = preprocess(x, PreprocessConfig())
    rows = []
    for i in range(len(ids)):
        edge = m[i] & ~ndimage.binary_erosion(m[i])
        outl = np.clip(x[i], 0, 1).copy()
        outl[edge] = 1.0
        rows.append(np.concatenate([x[i], np.clip(pre[i], 0, 1.2) / 1.2, c[i], outl], axis=1))
    grid = np.concatenate(rows, axis=0)
    img = Image.fromarray((np.clip(grid, 0, 1) * 255).astype(np.uint8))
    img.resize((img.width * 3, img.height * 3), Image.NEAREST).save(args.out)


if __name__ == "__main__":
    main()
