"""Label-efficient segmentation: pixel MLPs on the shipped pixel prior's decoder features
(Baranchuk et al. 2022) against a MONAI U-Net trained from scratch on the same N labelled
slices, without and with classic augmentation, for N in 10, 30, 100 and all.

Every method is trained on the same draws of N train slices (stratified: healthy, benign and
malignant in even shares) and scored on the same fixed random sample of test slices. Dice per
class (background, CSF, grey matter, white matter, oedema, tumour) pools the test pixels; each
cell is the mean over the draws and the central 95% percentile interval of the draws. The
features (noise levels, decoder levels) were chosen on dev slices (experiments sweep, not
repeated here). At N = all both methods are capped (see the note under the table).

Targets: at N = 10 and 30, diffusion features >= best peer + 0.10 Dice on tumour and on white
matter; at N = all, within 0.02 of it. Each is read from the interval of its gain, paired by
draw.

Run (16 min on one CPU thread shared with other jobs; the table in benchmarks/results/):

    python benchmarks/segment.py --draws 3 --test 100 --unet-steps 300 --mlp-steps 300 \
        --max-slices 200 --out benchmarks/results/segment.txt
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from medgen.data.store import open_dataset
from medgen.reference.zoo import require
from medgen.study.chapters.tasks import claims_table, read_claim
from medgen.tasks.claims import Claim
from medgen.tasks.fewlabels.command import open_feature_model
from medgen.tasks.fewlabels.labels import labelled_count
from medgen.tasks.fewlabels.table import SegmentSettings, dice_text, segment_table

REFERENCE = "pixel_prior"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", required=True, help="the standard data (medgen data make --out DIR)"
    )
    parser.add_argument(
        "--labels", default="10,30,all,100", help="comma-separated N, in the order run"
    )
    parser.add_argument("--draws", type=int, default=3, help="draws of the N slices per N")
    parser.add_argument("--test", type=int, default=200, help="test slices scored")
    parser.add_argument("--unet-steps", type=int, default=300, help="steps of each peer U-Net")
    parser.add_argument("--mlp-steps", type=int, default=500, help="steps of each pixel MLP")
    parser.add_argument("--max-slices", type=int, default=500, help="feature slices at most")
    parser.add_argument("--out", type=Path, default=None, help="where the table is written")
    args = parser.parse_args()
    torch.set_num_threads(1)

    store = open_dataset(args.data)
    model = open_feature_model(require(REFERENCE, store).folder, store.size)
    s = SegmentSettings(
        counts=tuple(labelled_count(n) for n in args.labels.split(",")),
        draws=args.draws,
        test=args.test,
        max_slices=args.max_slices,
    )
    pixels = replace(s.segmenter.pixels, steps=args.mlp_steps)
    s = replace(
        s,
        segmenter=replace(s.segmenter, pixels=pixels),
        peers=replace(s.peers, steps=args.unet_steps),
    )
    # the study's claim reading, with this task's name (the study does not run it yet)
    head = ["python " + shlex.join(sys.argv), f"reference {REFERENCE} on {args.data}"]
    tables, claims = [], []
    start = time.perf_counter()
    for n in s.counts:  # one N at a time, each written as it comes: a stopped run keeps them
        result = segment_table(model, store, replace(s, counts=(n,)))
        tables.append(result.table)
        claims += result.claims
        minutes = (time.perf_counter() - start) / 60
        text = report(head, pd.concat(tables), claims, result.note, minutes)
        print(text, flush=True)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n", encoding="utf-8")


def report(
    head: list[str], table: pd.DataFrame, claims: list[Claim], note: str, minutes: float
) -> str:
    """The Dice table, the claims and their reading, under the command."""
    findings = [read_claim(c).sentence for c in claims]
    found = claims_table(claims) if claims else pd.DataFrame()
    return "\n".join(
        [
            *head,
            f"{minutes:.1f} min so far, on one CPU thread shared with other jobs",
            "",
            "Dice per class: mean over draws [central 95% of the draws]",
            dice_text(table),
            "",
            found.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            *(f"target: {f}" for f in findings),
            f"note: {note}",
        ]
    )


if __name__ == "__main__":
    main()
