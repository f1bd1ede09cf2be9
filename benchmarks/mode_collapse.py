"""Mode-collapse benchmark (VEEGAN / PacGAN protocol): medgen's diffusion, GAN and VAE on the
8-mode ring (std 0.01) and the 25-mode grid (std 0.05), equal budgets, 2,500 samples per seed.

Rows: each family's mean +- std over seeds of modes captured (min over seeds), % high-quality
samples (within 3 std of the nearest mode) and reverse KL of the mode histogram; "data" is exact
samples of the mixture (the ceiling: ~98.9% high quality in 2-D, reverse KL ~(K - 1) / 2n from
sampling noise alone); published rows are the papers' own numbers for their (much longer) runs.
Target (grid): the diffusion captures 25/25 modes in every seed with >= 99% high-quality samples
and reverse KL <= 0.01. Run:

    python benchmarks/mode_collapse.py [--seeds 5] [--scale 1.0] [--json PATH]

Scale 1 (4,000 steps of batch 256 per family) takes ~8 minutes single-threaded.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import pandas as pd
import torch

from medgen.lab.mode_collapse import (
    BATCH,
    N_SAMPLES,
    mode_collapse_rows,
    reference_rows,
    scaled_steps,
    summarise,
)

# (mixture, row name, modes, high-quality %, reverse KL or None): the numbers VEEGAN (Srivastava
# et al. 2017, table 1) and PacGAN (Lin et al. 2018, table 1) report on the 2-D grid.
PUBLISHED = [
    ("grid", "GAN (VEEGAN T1)", 3.3, 0.5, None),
    ("grid", "GAN (PacGAN T1)", 17.3, 94.8, None),
    ("grid", "PacGAN4 (PacGAN T1)", 24.8, 93.6, 0.04),
]
TARGET = {"modes": 25, "high_quality": 99.0, "reverse_kl": 0.01}  # grid, every seed


W = 40  # width of the family column


def _pm(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(summary: pd.DataFrame) -> str:
    """The summary with the published anchors, one block per mixture."""
    header = (
        f"{'mixture':8} {'family':{W}} {'modes (min)':>20} {'HQ %':>14} {'reverse KL':>16} "
        f"{'params':>7} {'steps':>6} {'NFE':>4}"
    )
    lines = [header, "-" * len(header)]
    for mixture in summary["mixture"].unique():
        for r in summary[summary["mixture"] == mixture].itertuples():
            missing = r.nfe is None or (isinstance(r.nfe, float) and math.isnan(r.nfe))
            nfe = "-" if missing else str(int(r.nfe))
            hq = _pm(r.high_quality_mean, r.high_quality_std, 1)
            modes = f"{_pm(r.modes_mean, r.modes_std, 1)} ({r.modes_min}) /{r.of}"
            lines.append(
                f"{mixture:8} {r.family:{W}} {modes:>20} {hq:>14} "
                f"{_pm(r.reverse_kl_mean, r.reverse_kl_std, 4):>16} {r.parameters:>7} {r.steps:>6} "
                f"{nfe:>4}"
            )
        for m, name, paper_modes, paper_hq, kl in PUBLISHED:
            if m == mixture:
                kl_text = "-" if kl is None else f"{kl:.2f}"
                lines.append(
                    f"{m:8} {'published: ' + name:{W}} {paper_modes:>20.1f} {paper_hq:>14.1f} "
                    f"{kl_text:>16}"
                )
        lines.append("")
    return "\n".join(lines)


def target_verdicts(rows: pd.DataFrame) -> list[str]:
    """For each diffusion sampler: does every grid seed meet the target, and what it reaches."""
    out = []
    for family in ("diffusion", "diffusion-sde"):
        grid = rows[(rows["mixture"] == "grid") & (rows["family"] == family)]
        met = bool(
            (grid["modes"] >= TARGET["modes"]).all()
            and (grid["high_quality"] >= TARGET["high_quality"]).all()
            and (grid["reverse_kl"] <= TARGET["reverse_kl"]).all()
        )
        out.append(
            f"target (grid, every seed: 25/25 modes, HQ >= 99%, reverse KL <= 0.01), {family}: "
            f"{'MET' if met else 'NOT MET'} -- modes min {grid['modes'].min()}, HQ min "
            f"{grid['high_quality'].min():.2f}%, reverse KL max {grid['reverse_kl'].max():.4f}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 (default 5)")
    parser.add_argument("--scale", type=float, default=1.0, help="training-step scale (1.0)")
    parser.add_argument("--json", type=Path, default=None, help="write rows + summary here")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    rows = mode_collapse_rows(seeds, scale=args.scale)
    elapsed = time.perf_counter() - start
    summary = summarise(pd.concat([rows, reference_rows(seeds)], ignore_index=True))
    print(
        f"mode collapse: seeds {seeds}, {scaled_steps(args.scale)} optimiser steps of batch "
        f"{BATCH} for every family (GAN: one D + one G update per step), {N_SAMPLES} samples "
        f"per seed; {elapsed:.0f} s single-threaded\n"
    )
    print(table(summary))
    for line in target_verdicts(rows):
        print(line)
    if args.json is not None:
        payload = {
            "rows": json.loads(rows.to_json(orient="records")),
            "summary": json.loads(summary.to_json(orient="records")),
        }
        args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
