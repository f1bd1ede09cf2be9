"""Test-time refinement of the shipped registration network, on dev pairs: start from the
network's velocity field and take K Adam steps on the pair's own LNCC + bending energy of the raw
images (`medgen.tasks.registration.refine`). Does EPE against the true displacement fall, and at
what cost per pair? 100 dev pairs drawn with seed 1 (the test pairs are never looked at).

    python experiments/registration/refine.py --pairs 100 --steps 0,1,2,3,5,10 \
        --lr 0.05,0.1,0.2 --out experiments/registration/refine_dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from medgen.data.store import open_dataset
from medgen.reference.zoo import require
from medgen.tasks.registration.pairs import same_level_pairs
from medgen.tasks.registration.refine import RefineSettings, refined_field
from medgen.tasks.registration.run import MEDGEN
from medgen.tasks.registration.saved import load_nets
from medgen.tasks.registration.scores import pair_scores, pair_truth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/tmp/std_data")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--steps", default="0,10,25,50")
    parser.add_argument("--lr", default="0.1", help="comma-separated step sizes")
    parser.add_argument("--bending", type=float, default=0.1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    net = load_nets(require("registration", store).folder, store.size)[MEDGEN]
    pairs = same_level_pairs(store, "dev", args.pairs, seed=1)
    truth = pair_truth(store, pairs)
    images = store.array("images")
    f = np.asarray(images[pairs.fixed], np.float32)
    m = np.asarray(images[pairs.moving], np.float32)
    fixed, moving = (torch.from_numpy(np.ascontiguousarray(a))[:, None] for a in (f, m))
    grid = [(int(k), float(lr)) for lr in args.lr.split(",") for k in args.steps.split(",")]
    for steps, lr in grid:
        s = RefineSettings(steps=steps, lr=lr, bending=args.bending)
        refined_field(net, fixed[:2], moving[:2], s)  # untimed warm-up
        start = time.perf_counter()
        ddf = refined_field(net, fixed, moving, s).double().numpy()
        seconds = (time.perf_counter() - start) / len(f)
        scores = pair_scores("refined", ddf, np.full(len(f), seconds), truth, pairs)
        row = {
            "steps": steps, "lr": lr, "bending": args.bending,
            "epe": float(scores["epe_px"].mean()),
            "epe_near": float(np.nanmean(scores["epe_near_tumour_px"])),
            "folding": float(scores["folding_pct"].mean()),
            "dice": float(scores["dice_mean"].mean()), "s_per_pair": seconds,
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
