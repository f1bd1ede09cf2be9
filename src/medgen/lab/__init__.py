"""The lab: the theory medgen is about, as experiments with exact answers (figures + numbers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from medgen.fileio import make_folder
from medgen.lab.common import LabResult, write_numbers
from medgen.lab.mode_collapse import run_mode_collapse_lab
from medgen.lab.score import run_score_lab
from medgen.lab.score_matching import run_score_matching_lab
from medgen.lab.why_noise import run_why_noise_lab
from medgen.validate import random_seed

Experiment = Callable[..., LabResult]  # (out: Path, *, seed: int, scale: float) -> LabResult

EXPERIMENTS: dict[str, Experiment] = {
    "score": run_score_lab,
    "why-noise": run_why_noise_lab,
    "score-matching": run_score_matching_lab,
    "mode-collapse": run_mode_collapse_lab,
}


def run_experiment(name: str, out: str | Path, *, seed: int = 0, scale: float = 1.0) -> LabResult:
    """Run experiment `name` into folder `out` (figures/ and numbers.json); `scale` multiplies
    its compute budget (1: the published numbers; smaller for smoke tests)."""
    random_seed("seed", seed)
    out = make_folder(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches of a few hundred 2-D points: more threads only contend
    try:
        result = EXPERIMENTS[name](out, seed=seed, scale=scale)
    finally:
        torch.set_num_threads(threads)
    write_numbers(out, result)
    return result


__all__ = ["EXPERIMENTS", "LabResult", "run_experiment"]
