"""The domain extractor: does its embedding see lesions? The default recipe (metadata heads:
tumour type, location, slice level, noise, bias) against the same with lesion heads (a
tumour-presence head on the embedding and a training-only tumour-mask head on the 16x16 map),
both trained on the train split of the built-in data for the same steps and scored in one run on
dev (the split any choice was made on) and test (held out). Targets for the default, on dev:

1. tumour presence AUROC >= 0.95;
2. tumour type accuracy >= 0.85 (3-way benign/malignant/none, the type head's own classes);
3. location accuracy >= 0.80 (8-way including none);
4. slice level, noise and bias R^2 kept;
5. training <= 240 s on 2 CPU cores at 2000 steps.

    python benchmarks/features.py [--data DIR] [--steps 2000] [--threads 2] [--work DIR]

--data is a built-in dataset folder (default: the default built-in data, 8000/5000/2000 slices,
made in a temporary folder, several minutes). --work keeps the extractors as DIR/default and
DIR/lesion; one already there with the same recipe and data is scored, not retrained (so the two
can be trained side by side). Without a presence head the presence AUROC reads
1 - P(type = none) from the type head.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from medgen.config import from_dict
from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.evaluate.features import (
    INFO,
    FeatureConfig,
    extractor_record,
    split_scores,
    train_extractor,
)
from medgen.exceptions import InputError

RECIPES = {
    "default": FeatureConfig(),  # metadata heads
    "lesion": FeatureConfig(presence_weight=1.0, mask_weight=1.0),  # plus the lesion heads
}
COLUMNS = {  # column -> key in the scores
    "presence AUROC": "tumour presence AUROC",
    "type acc": "tumour_type accuracy",
    "location acc": "location accuracy",
    "slice R2": "source_z R2",
    "noise R2": "noise_sigma R2",
    "bias R2": "bias_strength R2",
}
TARGETS = {"tumour presence AUROC": 0.95, "tumour_type accuracy": 0.85, "location accuracy": 0.80}
RESULTS = Path(__file__).parent / "results" / "features.txt"


class BadInput(Exception):
    """A command-line value the benchmark refuses (one line, exit 2)."""


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="built-in dataset folder (default: made)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of both recipes")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the table is saved")
    parser.add_argument("--work", type=Path, help="folder of the extractors (default: temporary)")
    args = parser.parse_args()
    if args.steps < 1:
        raise BadInput(f"--steps must be at least 1, got {args.steps}")
    if args.threads < 1:
        raise BadInput(f"--threads must be at least 1, got {args.threads}")
    return args


def table(scores: dict[str, dict[str, dict[str, float]]], seconds: dict[str, float]) -> str:
    """Rows recipe x split, columns the scores and the training seconds; then lesion - default."""
    head = f"{'recipe':8s} {'split':6s}" + "".join(f"{c:>15s}" for c in COLUMNS) + "  train s"
    lines = [head]
    for recipe, by_split in scores.items():
        for split, got in by_split.items():
            cells = "".join(f"{got.get(key, float('nan')):15.3f}" for key in COLUMNS.values())
            lines.append(f"{recipe:8s} {split:6s}{cells}{seconds[recipe]:9.0f}")
    for split in scores["lesion"]:
        lesion, default = scores["lesion"][split], scores["default"][split]
        cells = "".join(
            f"{lesion.get(key, float('nan')) - default.get(key, float('nan')):+15.3f}"
            for key in COLUMNS.values()
        )
        ratio = seconds["lesion"] / seconds["default"]
        lines.append(f"{'diff':8s} {split:6s}{cells}{ratio:8.2f}x")
    lines.append("")
    for key, low in TARGETS.items():
        value = scores["default"]["dev"].get(key, float("nan"))
        lines.append(f"default, dev: {key} {value:.3f} (>= {low}): {verdict(value >= low)}")
    return "\n".join(lines)


def trained(folder: Path, data: Path, config: FeatureConfig) -> dict[str, Any] | None:
    """The record of an extractor in `folder` trained on `data` with `config`, else None."""
    if not (folder / INFO).is_file():
        return None
    record = extractor_record(folder)
    recorded = from_dict(FeatureConfig, {"pool": "mean", **record["config"]})
    same_data = record["data"]["content_hash"] == open_dataset(data).manifest["content_hash"]
    return record if recorded == config and same_data else None


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def run(args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    data = args.data
    if data is None:
        data = Path(tempfile.mkdtemp(prefix="medgen_features_data_")) / "standard"
        make_dataset(data, DataConfig(), workers=2)
    work = args.work or Path(tempfile.mkdtemp(prefix="medgen_features_"))
    scores: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    for name, recipe in RECIPES.items():
        config = replace(recipe, steps=args.steps)
        info = trained(work / name, data, config)
        if info is None:
            info = train_extractor(data, work / name, config, overwrite=True)
        seconds[name] = float(info["train_seconds"])
        scores[name] = {"dev": info["dev_scores"], "test": split_scores(work / name, data, "test")}
    return (
        f"domain extractor, default vs lesion heads: {args.steps} steps at batch "
        f"{RECIPES['default'].batch_size}, {args.threads} torch thread(s); data {data}\n"
        "type acc is 3-way (benign/malignant/none), location 8-way (with none); "
        "diff: lesion - default (train s: ratio)\n\n" + table(scores, seconds)
    )


def main() -> None:
    try:
        args = parse()
        report = run(args)
    except (BadInput, InputError) as err:
        print(f"features.py: {err}", file=sys.stderr)
        sys.exit(2)
    print(report)
    command = shlex.join(["python", "benchmarks/features.py", *sys.argv[1:]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# command: {command}\n\n{report}\n")


if __name__ == "__main__":
    main()
