"""Train a toy model, in-process (`run_toy`) or as a script (kill, interrupt, multi-process tests).

Usage: python tests/train/run_toy.py OUT [--budget 40steps] [--resume] [--kind ema] ...
Prints the run's summary as one JSON line on stdout (main process only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from toy import ToyImages, make_toy

from medgen.train import TrainConfig, train
from medgen.train.loop import leaving_process_group


def run_toy(
    out: str | Path,
    *,
    kind: str = "ema",
    budget: str = "40steps",
    checkpoint_every: int = 5,
    resume: bool = False,
    cpu: bool = False,
    sleep: float = 0.0,
    checksum: str | None = None,
) -> dict[str, Any]:
    """Train the toy of `kind` on 64 images, batches of 8, logging every 2 steps, sampling every
    10, monitoring every 4, keeping 2 checkpoints; the run's summary."""
    config = TrainConfig(
        batch_size=8,
        lr=3e-3,
        budget=budget,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=2,
        log_every=2,
        monitor_every=4,
        sample_every=10,
        sample_count=4,
        warmup_steps=3,
        ema_decay=0.9,
    )
    model = make_toy(kind, sleep=sleep)
    summary = train(model, ToyImages(64), out, config, resume=resume, cpu=cpu, progress=False)
    if checksum is not None:  # each process's weights, to see that DDP kept them equal
        digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values()))
        rank = os.environ.get("RANK", "0")
        Path(checksum, f"rank-{rank}.txt").write_text(digest.hexdigest())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kind", default="ema")
    parser.add_argument("--budget", default="40steps")
    parser.add_argument("--checkpoint-every", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds per step")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--checksum", help="folder: each rank writes rank-R.txt, its weights' hash")
    args = parser.parse_args()
    with leaving_process_group():
        summary = run_toy(
            args.out,
            kind=args.kind,
            budget=args.budget,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            cpu=args.cpu,
            sleep=args.sleep,
            checksum=args.checksum,
        )
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
