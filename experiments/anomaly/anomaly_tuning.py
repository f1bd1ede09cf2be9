"""How far issue 7's anomaly target reading depends on the dev slices that tune it.

The anomaly table chooses the top noise level (by pixel AUPRC) and each method's lesion masks
(smoothing, clean-up and threshold, by Dice) on the first --subset dev tumour slices. With a few
dozen slices, half of them benign, that choice is itself noisy, and so is the malignant Dice gain
it yields on test. This script computes every residual once (the healthy diffusion model's
posterior-mean ensemble at each level of LEVELS, and the VAE's) on all dev tumour slices and the
whole test split, then repeats the choice on the first --subset dev tumour slices (the table's
choice) and on --resamples random subsets of that size, and prints the malignant gains over the
VAE on test for each, with their quartiles: once with the masks cut from the 1.5-px map (the
protocol before the masks' smoothing was chosen on dev) and once with the smoothing chosen too.

The noise draws differ from the table's (one generator per level here), so the first-subset row
matches the table's reading up to the ensemble's draw noise.

    python benchmarks/anomaly_tuning.py --work /tmp/tb60 --out benchmarks/results/x.txt

--work is a benchmarks/tasks.py work folder: data/ and runs/{diffusion,vae}_healthy.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from medgen.data.store import StoredDataset, open_dataset
from medgen.models import VAE, load_model
from medgen.tasks.anomaly_split import (
    LEVELS,
    AnomalySettings,
    Residuals,
    anomalous_pixels,
    choose_masks,
    diffusion_maps,
    map_slices,
    pixel_auprc,
    tuning_slices,
    vae_maps,
)
from medgen.tasks.run import open_pixel_model, split_ids
from medgen.tasks.tables import ANOMALY_GAIN

PROTOCOLS = {  # how the masks are chosen on dev
    "masks from the 1.5-px map": AnomalySettings(segment_blur=1.5),
    "smoothing chosen on dev": AnomalySettings(),
}


def subset(found: Residuals, rows: NDArray[np.int64]) -> Residuals:
    return Residuals(found.residual[rows], found.brain[rows])


class Split:
    """One split's residuals per method (medgen at every level), truths and malignant rows."""

    def __init__(self, store: StoredDataset, ids: NDArray[np.int64]) -> None:
        self.truth = anomalous_pixels(store, ids, "tumour")
        meta = store.meta.loc[ids]
        self.malignant = (meta["tumour_type"] == "malignant").to_numpy()
        self.healthy = (meta["label"] == 0).to_numpy()
        self.residuals: dict[str, Residuals] = {}


def residuals(
    store: StoredDataset, ids: NDArray[np.int64], model: Any, vae: VAE, batch: int, seed: int
) -> Split:
    split = Split(store, ids)
    a = AnomalySettings()
    with torch.no_grad():
        for level in LEVELS:
            g = torch.Generator().manual_seed(seed)
            fn = diffusion_maps(model, a, level, g)
            split.residuals[f"medgen@{level:g}"] = map_slices(fn, store, ids, batch).residuals()
        split.residuals["vae"] = map_slices(vae_maps(vae), store, ids, batch).residuals()
    return split


def gains(dev: Split, test: Split, rows: NDArray[np.int64], a: AnomalySettings) -> dict[str, Any]:
    """The table's choice on dev rows `rows`, scored on test's malignant tumours."""
    auprc = {
        level: pixel_auprc(
            subset(dev.residuals[f"medgen@{level:g}"], rows).maps(a.blur),
            dev.truth[rows],
            dev.residuals["vae"].brain[rows],
        )
        for level in LEVELS
    }
    level = max(auprc, key=lambda k: auprc[k])
    out: dict[str, Any] = {"level": level}
    scored = test.malignant | test.healthy  # the malignant group: its slices and the healthy
    for name in ("medgen", "vae"):
        found = dev.residuals[f"medgen@{level:g}" if name == "medgen" else "vae"]
        blur, seg = choose_masks(subset(found, rows), dev.truth[rows], a)
        on_test = test.residuals[f"medgen@{level:g}" if name == "medgen" else "vae"]
        out[f"{name} masks"] = f"{seg.cleanup} {blur:g}px"
        mal = test.malignant
        out[f"{name} Dice"] = seg.dice(on_test.maps(blur)[mal], test.truth[mal])
        maps = on_test.maps(a.blur)
        out[f"{name} pixAP"] = pixel_auprc(maps[scored], test.truth[scored], on_test.brain[scored])
    out["Dice gain"] = out["medgen Dice"] - out["vae Dice"]
    out["pixAP gain"] = out["medgen pixAP"] - out["vae pixAP"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a benchmarks/tasks.py folder")
    parser.add_argument("--subset", type=int, default=32, help="dev tumour slices per choice")
    parser.add_argument("--resamples", type=int, default=20, help="random dev subsets")
    parser.add_argument("--batch", type=int, default=8, help="slices per network batch")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    store = open_dataset(args.work / "data")
    model = open_pixel_model(args.work / "runs" / "diffusion_healthy", store)
    vae = load_model(args.work / "runs" / "vae_healthy" / "model").eval()
    assert isinstance(vae, VAE)
    dev_ids = tuning_slices(store, len(store.meta))
    if args.subset > len(dev_ids):
        parser.error(f"--subset {args.subset}: dev has only {len(dev_ids)} tumour slices")
    test_ids = split_ids(store, "test", None)
    dev = residuals(store, dev_ids, model, vae, args.batch, args.seed + 1)
    test = residuals(store, test_ids, model, vae, args.batch, args.seed)
    rng = np.random.default_rng(args.seed)
    subsets = {"first": np.arange(args.subset)}
    for r in range(args.resamples):
        subsets[f"random {r + 1}"] = np.sort(rng.choice(len(dev_ids), args.subset, replace=False))
    subsets["all dev"] = np.arange(len(dev_ids))
    lines = [
        f"# command: python {' '.join(map(shlex.quote, sys.argv))}",
        f"# {len(dev_ids)} dev tumour slices, {len(test_ids)} test slices "
        f"({int(test.malignant.sum())} malignant); runs in {args.work}/runs; "
        f"{datetime.now():%Y-%m-%d %H:%M}",
    ]
    for title, a in PROTOCOLS.items():
        rows = [{"dev subset": k, **gains(dev, test, v, a)} for k, v in subsets.items()]
        table = pd.DataFrame(rows).set_index("dev subset")
        random = table[table.index.str.startswith("random")]
        met = (random["Dice gain"] >= ANOMALY_GAIN["dice"]) & (
            random["pixAP gain"] >= ANOMALY_GAIN["pixel_auprc"]
        )
        q = random[["Dice gain", "pixAP gain"]].quantile([0.25, 0.5, 0.75])
        lines += [
            "",
            f"## {title}: choices on {args.subset} dev tumour slices, malignant test scores",
            table.to_string(float_format=lambda v: f"{v:.3f}"),
            f"random subsets: Dice gain quartiles {q['Dice gain'].iloc[0]:+.3f} / "
            f"{q['Dice gain'].iloc[1]:+.3f} / {q['Dice gain'].iloc[2]:+.3f} "
            f"(target +{ANOMALY_GAIN['dice']:g}), pixel AUPRC gain median "
            f"{q['pixAP gain'].iloc[1]:+.3f} (target +{ANOMALY_GAIN['pixel_auprc']:g}); "
            f"target met on {int(met.sum())} of {len(random)}",
        ]
        print("\n".join(lines[-4:]), flush=True)
    lines.append(f"# total {time.perf_counter() - start:.0f} s")
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
