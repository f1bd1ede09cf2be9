"""Same seed, same data, same config: two fresh runs end with bit-identical weights on the CPU,
for every family, whatever the process drew from its random generators before."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from toy import run_tensors

from medgen.data.synth import DataConfig, make_dataset
from medgen.train.recipe import read_run_config, train_on_data

# The smallest model of each family that the 32-pixel data take.
TINY_MODELS: dict[str, dict[str, Any]] = {
    "diffusion": {
        "steps": 3,
        "unet": {"channels": [16, 32], "attention_levels": [False, True], "num_head_channels": 16},
    },
    "gan": {"latent_dim": 16, "width": 16},
    "vae": {"hidden": [8, 16], "latent_channels": 2},
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 slices of 32 x 32 pixels."""
    out = tmp_path_factory.mktemp("tiny") / "data"
    make_dataset(out, DataConfig(size=32, n_train=32, n_dev=8, n_test=8, seed=3), workers=1)
    return out


def train_tiny(family: str, data: Path, out: Path, seed: int) -> None:
    config = read_run_config(
        None,
        family,
        model=TINY_MODELS[family],
        budget="3steps",
        batch_size=8,
        seed=seed,
        log_every=1,
        checkpoint_every=100,
        sample_count=2,
    )
    summary = train_on_data(family, data, out, config, progress=False)
    assert summary["status"] == "finished" and summary["steps"] == 3


def disturb_global_rngs() -> None:
    """Draw from every global generator, as earlier work in the same process would."""
    torch.rand(7)
    np.random.rand(7)
    random.random()


@pytest.mark.parametrize("family", ["diffusion", "gan", "vae"])
def test_two_runs_with_one_seed_end_bit_identical(
    family: str, tiny_data: Path, tmp_path: Path
) -> None:
    train_tiny(family, tiny_data, tmp_path / "a", seed=5)
    disturb_global_rngs()
    train_tiny(family, tiny_data, tmp_path / "b", seed=5)
    a, b = run_tensors(tmp_path / "a"), run_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 10
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"
