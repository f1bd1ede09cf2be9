"""Fixtures of the remedy experiments' tests: the tests' small built-in dataset and a tiny joint
diffusion run on it (as tests/conftest.py and tests/errors/conftest.py make them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medgen.data.synth import DataConfig, make_dataset
from medgen.tasks.augment import train_joint_generator
from medgen.train.recipe import read_run_config

SMALL = DataConfig(n_train=300, n_dev=200, n_test=100, seed=7)
TINY = {
    "diffusion": "[model]\nsteps = 2\n"
    "unet = { channels = [16, 32], attention_levels = [false, true], num_head_channels = 16 }\n",
}


@pytest.fixture(scope="session")
def builtin_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600-slice built-in dataset at 64x64 (tests must not modify it)."""
    out = tmp_path_factory.mktemp("builtin") / "data"
    make_dataset(out, SMALL, workers=2)
    return out


@pytest.fixture(scope="session")
def joint_runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """family -> a joint (image, mask) run trained for 2 steps (the inpaint variants need only
    the diffusion one)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("joint")
    runs = {}
    for family, text in TINY.items():
        (root / f"{family}.toml").write_text(text)
        config = read_run_config(root / f"{family}.toml", family, budget="2steps", batch_size=4)
        runs[family] = root / family
        train_joint_generator(family, builtin_dataset, runs[family], config, progress=False)
    return runs
