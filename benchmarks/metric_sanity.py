"""Metric sanity suite: every sample-quality metric against known damage to real slices.

Held-out real slices (the test split) play the generated set, real dev slices the reference
(and the memorisation check's held-out yardstick), and training slices the memorisation check's
training set and what a memorising model copies. Each damage of `medgen.evaluate.damage` is
applied at 3-4 strengths; `medgen.evaluate.sanity` measures FD, KID, PRDC, memorisation,
per-condition FD and sharpness on each damaged set, and judges each claimed (metric, damage)
cell by its rule (the whole range moves the claimed way by more than 2 sd of paired
half-samples, and no step moves against it by more than 2 sd). Prints the pass/fail table
(metrics x damages; "-": no claim) and the raw values; exits 1 if a claimed cell fails. Run:

    python benchmarks/metric_sanity.py --data DIR [--n 500] [--halves 20] [--out PATH]

The features are medgen's shipped domain extractor, used only on the data it was trained on
(`medgen data make` standard data). At --n 500 it takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from medgen.data.store import StoredDataset, open_dataset
from medgen.evaluate.damage import DAMAGES, STRENGTHS, Context, Slices, read_slices
from medgen.evaluate.features import load_extractor
from medgen.evaluate.sanity import Cell, SanitySettings, failures, run_suite, verdict_table
from medgen.exceptions import SettingError
from medgen.reference.zoo import MODELS_DIR

ARROWS = {1: "up", -1: "down", 0: "-"}


def pick(store: StoredDataset, split: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random row ids of `split`, sorted."""
    ids = store.split(split).index.to_numpy()
    if ids.size < n:
        raise SystemExit(f"{store.root} has {ids.size} {split} slices; --n needs {n}")
    return np.sort(rng.choice(ids, size=n, replace=False))


def values_block(cells: Sequence[Cell]) -> str:
    """One damage's metrics over its strengths, with each claim and its verdict."""
    first = cells[0]
    heads = ["none", *(f"{s:g}" for s in first.strengths[1:])]
    header = f"{first.damage:20}" + "".join(f"{h:>10}" for h in heads)
    header += f"{'claim':>7}{'range z':>9}{'worst z':>9}  verdict"
    lines = [header, "-" * len(header)]
    for c in cells:
        line = f"{c.metric:20}" + "".join(f"{v:>10.4g}" for v in c.values)
        line += f"{ARROWS[c.direction]:>7}"
        if c.verdict is not None:
            v = c.verdict
            line += f"{v.range_z:>9.1f}{v.worst_step_z:>9.1f}  {'pass' if v.passed else 'FAIL'}"
        lines.append(line)
    return "\n".join(lines)


def report(cells: Sequence[Cell], header: str) -> str:
    """The verdict table, then the raw values damage by damage."""
    parts = [header, "", "pass/fail (rows: metrics; columns: damages; -: no claim)", ""]
    parts.append(verdict_table(cells).to_string())
    parts += ["", "raw values (strength 0 = undamaged; z in sd of paired half-samples)", ""]
    for damage in dict.fromkeys(c.damage for c in cells):
        parts += [values_block([c for c in cells if c.damage == damage]), ""]
    bad = failures(cells)
    parts.append(
        f"{len(bad)} claimed cell(s) fail: " + ", ".join(f"{c.metric} x {c.damage}" for c in bad)
        if bad
        else "every claimed cell passes"
    )
    return "\n".join(parts)


def load_sets(store: StoredDataset, n: int, seed: int) -> tuple[Slices, Slices, Context]:
    """n generated (test), n reference (dev) and 2n training slices; the rest of the test
    split is the spare pool that mode dropping and lesion removal draw on."""
    rng = np.random.default_rng(seed)
    test = store.split("test").index.to_numpy()
    base_ids = pick(store, "test", n, rng)
    train = read_slices(store, pick(store, "train", 2 * n, rng))
    context = Context(read_slices(store, np.setdiff1d(test, base_ids)), train, rng)
    return read_slices(store, base_ids), read_slices(store, pick(store, "dev", n, rng)), context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="the standard data (medgen data make --out DIR)"
    )
    parser.add_argument("--features", type=Path, default=MODELS_DIR / "features")
    parser.add_argument("--n", type=int, default=500, help="slices per set (default 500)")
    parser.add_argument("--halves", type=int, default=20, help="paired half-samples (20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--damages", default=",".join(DAMAGES), help="comma-separated (all)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    damages = tuple(d.strip() for d in args.damages.split(",") if d.strip())
    collapse = tuple(k for k in STRENGTHS["collapse"] if k < args.n)  # k distinct of n slices
    try:
        strengths = {**STRENGTHS, "collapse": collapse}
        settings = SanitySettings(args.halves, seed=args.seed, damages=damages, strengths=strengths)
    except SettingError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    store = open_dataset(args.data)
    extractor = load_extractor(args.features)
    trained_on = extractor.record.get("data", {}).get("content_hash")
    if trained_on != store.manifest.get("content_hash"):
        raise SystemExit(
            f"{args.features} was trained on data {str(trained_on)[:12]}, not on {args.data}; "
            "pass --features with an extractor trained on it (medgen features)"
        )
    base, reference, context = load_sets(store, args.n, args.seed)
    start = time.perf_counter()
    cells = run_suite(base, reference, context, extractor, settings, print)
    header = (
        f"metric sanity: data {args.data} ({str(trained_on)[:12]}), features {extractor.name}; "
        f"{args.n} generated (test) vs {args.n} reference (dev) slices, {2 * args.n} train; "
        f"{settings.halves} paired half-samples, z = {settings.z:g}, seed {args.seed}; "
        f"{time.perf_counter() - start:.0f} s on one thread.\n"
        "Why some cells claim nothing (precision; FD/KID under copy; drop location and drop "
        "brainstem): benchmarks/results/metric_sanity_notes.md"
    )
    text = report(cells, header)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    sys.exit(1 if failures(cells) else 0)


if __name__ == "__main__":
    main()
