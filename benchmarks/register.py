"""Deformable registration: medgen's diffusion-prior VoxelMorph-style network against the same
network trained on raw images, ANTs SyN and SimpleITK demons, on the same test pairs.

Trains both networks for --steps each (capped at --minutes of wall clock; the log says how many
steps each made) on random same-level pairs of the first --train-slices training slices;
medgen's similarity compares the shipped pixel prior's (pixel_prior) denoised images. Then
registers --pairs same-level test pairs (a healthy fixed slice; a moving slice of another
subject, alternately with and without a tumour) and scores each method against the true
displacement: EPE inside the fixed brain (pixels), Dice of the warped CSF/GM/WM labels,
% folding (det J <= 0), seconds per pair, EPE near the tumour.

Target: EPE <= SyN's (the paired interval of SyN's EPE minus medgen's clears 0) at <= 0.1%
folding and >= 20x SyN's speed per pair.

Run (~25 min on one CPU thread; equal steps keep the two networks' budgets equal, and 500 pairs
resolve a gain of about 0.05 px):

    python benchmarks/register.py --minutes 40 --steps 6000 --pairs 500 \
        --out benchmarks/results/register.txt

With --nets registration (or a folder `medgen register --save-nets` wrote) it trains nothing and
scores those networks, the shipped reference's that the study uses (~2 min for 500 pairs):

    python benchmarks/register.py --nets registration --pairs 500 \
        --out benchmarks/results/register.txt

Each network's field is refined on its pair by --refine-steps optimiser steps (the library's
default, chosen on dev pairs in experiments/registration; 0: the network alone).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from medgen.data.store import open_dataset
from medgen.reference.zoo import require
from medgen.tasks.registration.refine import RefineSettings
from medgen.tasks.registration.run import RegisterSettings, register_split, train_methods
from medgen.tasks.registration.saved import load_nets, read_info
from medgen.tasks.registration.table import register_table, table_text
from medgen.tasks.registration.train import TrainSettings
from medgen.tasks.run import open_pixel_model, run_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="the standard data (medgen data make --out DIR)"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="training per network")
    parser.add_argument("--steps", type=int, default=100_000, help="training steps at most")
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--train-slices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--refine-steps", type=int, default=RefineSettings().steps, help="0: the networks alone"
    )
    parser.add_argument("--nets", default=None, help="trained networks: a folder or 'registration'")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    train = TrainSettings(steps=args.steps, seconds=60.0 * args.minutes, seed=args.seed)
    s = RegisterSettings(
        limit=args.pairs,
        train_slices=args.train_slices,
        seed=args.seed,
        train=train,
        refine=RefineSettings(steps=args.refine_steps),
    )
    log: list[str] = []

    def note(line: str) -> None:
        log.append(f"{time.strftime('%H:%M:%S')} {line}")
        print(log[-1], flush=True)

    if args.nets is None:
        model = open_pixel_model(require("pixel_prior", store).folder, store)
        nets, _ = train_methods(model, store, s, note)
    else:
        folder = run_folder(args.nets, store)
        nets = load_nets(folder, store.size)
        trained = read_info(folder)["nets"]
        note(
            f"networks of {folder}: "
            + ", ".join(f"{k} {v['steps']} steps" for k, v in trained.items())
        )
    per_pair = register_split(nets, store, s, note)
    text = "\n".join(
        [
            "$ python " + shlex.join(sys.argv),
            f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, one CPU thread, data {args.data}",
            "",
            table_text(register_table(per_pair, args.seed, s.refine.steps)),
            "",
            "log:",
            *log,
        ]
    )
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
