"""Tiny diffusion runs for tests: a two-level 8/16-channel U-Net trained a few steps of 8 images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medgen.train.recipe import read_run_config, train_on_data

TINY_UNET = {"channels": [8, 16], "attention_levels": [False, False]}


def train_tiny(data: Path, out: Path, steps: int, **options: Any) -> None:
    """`medgen train diffusion` on `data`, `steps` steps, into `out` (options: train_on_data)."""
    config = read_run_config(
        None,
        "diffusion",
        model={"steps": 2, "unet": TINY_UNET},
        budget=f"{steps}steps",
        batch_size=8,
        seed=1,
        log_every=1,
        checkpoint_every=2,
        sample_count=2,
    )
    train_on_data("diffusion", data, out, config, progress=False, **options)
