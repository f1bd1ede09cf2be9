"""What the remedy's generator arms draw for the failing slice, by how the joint diffusion model
was trained: issue 6's audit (`added.csv`) without the detectors, so it runs on a CPU.

    python benchmarks/remedy_generators.py --data DIR --work W [--steps 2500]
        [--variants 0:0,0.5:0,0:20,0.5:20] [--n 200] [--guidance 1,3] [--oversample 1]
        [--inpaint-contrast drawn,slice] [--inpaint-margin 2,6]
        [--inpaint-placement copied,matched] [--jobs 2 --threads 1]

A variant is BALANCE:MASK_WEIGHT: `condition_repeats`' exponent for the training rows, and the
extra loss weight near the mask (`mask_loss_weights`). Every variant trains the same joint model
(seed 0, `--steps` steps; a run already in W/runs is reused), then makes the diffusion and inpaint
arms' examples for --slice exactly as `medgen errors remedy` does, at each guidance scale (with
--oversample K, the n of n K candidates most like the slice's own tumours, as the remedy keeps).

The peers, in the same run: the slice's real training tumours and the real-data arm (new slices
from the data generator, the oracle). On the built-in data the brainstem's tumours are mostly
non-enhancing and T1-dark (contrast against their ring about -0.02); a generator arm helps the
detector only if what it draws looks like them. `told_apart` is how well a linear classifier
tells an arm's tumours from the slice's training tumours (0.5: it cannot; `medgen.errors.tell`),
and against the oracle's tumours (`vs_oracle`: more examples, so more power), also on a patch's
intensities alone and on its fine detail alone: where a tell lies. The oracle's row is the
control (its second half against its first): what an arm with no tell would score.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from medgen.data.store import open_dataset
from medgen.errors.remedy import (
    INPAINT_CONTRASTS,
    INPAINT_PLACEMENTS,
    RemedyPlan,
    describe_examples,
    generated_examples,
    inpainted_examples,
    parse_slice,
    real_examples,
    slice_tumours,
)
from medgen.errors.tell import PARTS, told_apart
from medgen.exceptions import InputError
from medgen.tasks.augment import INPAINT_MARGIN, train_joint_generator
from medgen.train.recipe import read_run_config

Pair = tuple[np.ndarray, np.ndarray]  # images, masks


def parse_variants(text: str) -> list[tuple[float, float]]:
    """[(balance, mask_weight), ...] from "0:0,0.5:20"."""
    variants = []
    for item in text.split(","):
        balance, weight = item.split(":")
        variants.append((float(balance), float(weight)))
    return variants


def run_name(balance: float, weight: float) -> str:
    return f"balance{balance:g}_maskweight{weight:g}"


def train_variant(data: Path, run: Path, steps: int, balance: float, weight: float,
                  threads: int) -> str:  # fmt: skip
    """Train one variant's joint diffusion model into `run` unless it is there already."""
    if (run / "summary.json").exists():
        return f"{run.name}: reused"
    torch.set_num_threads(threads)
    config = read_run_config(None, "diffusion", model={"mask_weight": weight},
                             budget=f"{steps}steps", seed=0, log_every=50,
                             checkpoint_every=500)  # fmt: skip
    summary = train_joint_generator("diffusion", data, run, config, balance=balance,
                                    progress=False)  # fmt: skip
    return f"{run.name}: {summary['steps']} steps in {summary['seconds']:.0f} s"


LOOK_WORDS = {"inpaint_contrast": "at {} contrast", "inpaint_margin": "margin {}",
              "inpaint_placement": "{} placement"}  # fmt: skip
LOOK_DEFAULTS = {f.name: f.default for f in fields(RemedyPlan) if f.name in LOOK_WORDS}


def inpaint_row_name(look: dict[str, Any]) -> str:
    """The inpaint arm's row name, with what differs from the remedy's defaults."""
    changed = [LOOK_WORDS[k].format(v) for k, v in look.items() if v != LOOK_DEFAULTS[k]]
    return ", ".join(["inpaint arm", *changed])


def inpaint_looks(contrasts: list[str], margins: list[int],
                  placements: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """Every combination of the inpaint arm's options, as RemedyPlan fields."""
    return [{"inpaint_contrast": c, "inpaint_margin": m, "inpaint_placement": p}
            for c, m, p in product(contrasts, margins, placements)]  # fmt: skip


def audit_variant(data: Path, run: Path, plan: RemedyPlan, guidances: list[float],
                  looks: list[dict[str, Any]], threads: int) -> list[dict]:  # fmt: skip
    """The diffusion and inpaint arms' examples of one run, described, at each guidance (the
    inpaint arm in each of its `looks`: `inpaint_looks`)."""
    torch.set_num_threads(threads)
    store = open_dataset(data)
    real = slice_tumours(store, plan.slice)[:2]
    oracle = real_examples(store, plan.slice, plan.n, plan.seed)[:2]
    rows = []
    for guidance in guidances:
        guided = replace(plan, guidance=guidance)
        arms = [("diffusion arm", generated_examples, guided)] + [
            (inpaint_row_name(look), inpainted_examples, replace(guided, **look)) for look in looks
        ]
        for name, make, arm_plan in arms:
            images, masks, _ = make(run, store, arm_plan)
            row = describe_examples(name, images, masks)
            told = told_apart(real, (images, masks), plan.seed)  # as added.csv has it
            found = against_oracle(oracle, (images, masks), plan.seed)
            rows.append({"variant": run.name, "guidance": guidance, **row,
                         "told_apart": told, **found})  # fmt: skip
    return rows


def against_oracle(oracle: Pair, added: Pair, seed: int) -> dict[str, float]:
    """`told_apart` against the oracle's tumours (more examples than the slice's training ones:
    more power), on the whole patch and on each part alone."""
    found = {"vs_oracle": told_apart(oracle, added, seed)}
    for part in PARTS:
        found[f"vs_oracle_{part}"] = told_apart(oracle, added, seed, parts=[part])
    return found


def oracle_control(real: Pair, oracle: Pair, seed: int) -> dict[str, float]:
    """The oracle's own row: `told_apart` against the slice's training tumours, and its second
    half against its first in place of the oracle: what an arm with no tell would score."""
    half = len(oracle[0]) // 2
    first, second = (oracle[0][:half], oracle[1][:half]), (oracle[0][half:], oracle[1][half:])
    return {"told_apart": told_apart(real, oracle, seed), **against_oracle(first, second, seed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a built-in dataset folder")
    parser.add_argument("--work", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--steps", type=int, default=2500, help="training steps per variant")
    parser.add_argument("--variants", default="0:0,0.5:0,0:20,0.5:20", help="BALANCE:WEIGHT,...")
    parser.add_argument("--slice", default="location=brainstem", help="the failing slice")
    parser.add_argument("--n", type=int, default=200, help="examples per arm")
    parser.add_argument("--guidance", default="1,3", help="guidance scales (comma-separated)")
    parser.add_argument("--oversample", type=int, default=1, help="candidates per example kept")
    choices = ", ".join(INPAINT_CONTRASTS)
    parser.add_argument("--inpaint-contrast", default="drawn",
                        help=f"inpaint arm's contrasts, comma-separated ({choices})")  # fmt: skip
    parser.add_argument("--inpaint-margin", default=str(INPAINT_MARGIN),
                        help="inpaint arm's redrawn margins (px), comma-separated")  # fmt: skip
    parser.add_argument("--inpaint-placement", default="copied",
                        help="inpaint arm's placements, comma-separated "
                             f"({', '.join(INPAINT_PLACEMENTS)})")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2, help="variants trained at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per job")
    args = parser.parse_args()
    try:
        store = open_dataset(args.data)
        values = parse_slice(args.slice, store)
    except InputError as err:
        parser.error(str(err))
    plan = RemedyPlan(values, args.n, {}, seed=0, oversample=args.oversample)
    guidances = [float(g) for g in args.guidance.split(",")]
    contrasts = args.inpaint_contrast.split(",")
    if not set(contrasts) <= set(INPAINT_CONTRASTS):
        parser.error(f"--inpaint-contrast {args.inpaint_contrast!r}: choose among "
                     f"{', '.join(INPAINT_CONTRASTS)}")  # fmt: skip
    try:
        margins = [int(m) for m in args.inpaint_margin.split(",")]
    except ValueError:
        margins = [-1]
    if min(margins) < 0:
        parser.error(f"--inpaint-margin {args.inpaint_margin!r}: want whole numbers >= 0, e.g. 2,6")
    placements = args.inpaint_placement.split(",")
    if not set(placements) <= set(INPAINT_PLACEMENTS):
        parser.error(f"--inpaint-placement {args.inpaint_placement!r}: choose among "
                     f"{', '.join(INPAINT_PLACEMENTS)}")  # fmt: skip
    looks = inpaint_looks(contrasts, margins, placements)
    try:
        variants = parse_variants(args.variants)
    except ValueError:
        parser.error(f"--variants {args.variants!r}: want BALANCE:WEIGHT pairs, e.g. 0:0,0.5:20")
    runs = [args.work / "runs" / run_name(*v) for v in variants]
    with ProcessPoolExecutor(args.jobs) as pool:
        trained = [pool.submit(train_variant, args.data, run, args.steps, *v, args.threads)
                   for run, v in zip(runs, variants, strict=True)]  # fmt: skip
        for future in trained:
            print(future.result(), flush=True)
        audits = [pool.submit(audit_variant, args.data, run, plan, guidances, looks,
                              args.threads) for run in runs]  # fmt: skip
        rows = [row for future in audits for row in future.result()]
    real = slice_tumours(store, values)[:2]
    oracle = real_examples(store, values, args.n, plan.seed)
    peers = [
        {"variant": "peer", "guidance": float("nan"),
         **describe_examples("the slice's training tumours", *real)},
        {"variant": "peer", "guidance": float("nan"),
         **describe_examples("real arm (the oracle)", oracle[0], oracle[1]),
         **oracle_control(real, oracle[:2], plan.seed)},
    ]  # fmt: skip
    table = pd.DataFrame(peers + rows).drop(columns=["centroid_row", "centroid_col"])
    print(f"\nwhat each arm draws for {args.slice}: medians over {args.n} examples "
          f"(oversample {args.oversample}); {args.steps} training steps per variant "
          "(balance:mask_weight)")  # fmt: skip
    print(table.to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
