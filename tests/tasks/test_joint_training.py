"""How the joint (image, mask) generators train: condition-cell repeats of their rows
(`condition_repeats`) and the diffusion model's loss weight near the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medgen.data.store import open_dataset
from medgen.exceptions import InputError
from medgen.models.diffusion import DiffusionModel
from medgen.tasks.augment import (
    MASK_WEIGHT,
    condition_repeats,
    joint_conditions,
    joint_model,
    joint_training_set,
)


def _meta() -> pd.DataFrame:
    """Cells of 100, 25 and 4 rows over two attributes, rows interleaved."""
    cells = [("a", "1")] * 100 + [("a", "0")] * 25 + [("b", "0")] * 4
    order = np.random.default_rng(0).permutation(len(cells))
    return pd.DataFrame([cells[i] for i in order], columns=["location", "enhancing"])


def _shown_per_cell(meta: pd.DataFrame, repeats: np.ndarray) -> dict[tuple[str, str], int]:
    shown = meta.assign(r=repeats).groupby(["location", "enhancing"])["r"].sum()
    return {key: int(value) for key, value in shown.items()}


def test_repeats_follow_the_cell_counts() -> None:
    meta = _meta()
    names = ["location", "enhancing"]
    assert (condition_repeats(meta, names, 0.0) == 1).all()  # the data as they are
    square_root = condition_repeats(meta, names, 0.5)  # (100 / n_c) ** 0.5: 1, 2, 5
    assert _shown_per_cell(meta, square_root) == {("a", "1"): 100, ("a", "0"): 50, ("b", "0"): 20}
    balanced = condition_repeats(meta, names, 1.0)  # every cell shown equally often
    assert set(_shown_per_cell(meta, balanced).values()) == {100}
    by_location = condition_repeats(meta, ["location"], 1.0)  # cells of the names given only
    assert _shown_per_cell(meta, by_location)[("b", "0")] == 4 * round(125 / 4)
    assert (condition_repeats(meta, [], 1.0) == 1).all()


@pytest.mark.parametrize("balance", [-0.1, 1.5, float("nan")])
def test_a_balance_outside_0_1_is_refused(balance: float) -> None:
    with pytest.raises(InputError, match="balance"):
        condition_repeats(_meta(), ["location"], balance)


def test_the_balanced_training_set_repeats_rows_of_rare_cells(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    plain, balanced = joint_training_set(store, 0.0), joint_training_set(store, 1.0)
    repeats = condition_repeats(plain.meta, joint_conditions(store), 1.0)
    assert len(balanced) == repeats.sum() > len(plain)
    rare = int(np.argmax(repeats))  # a row of the rarest cell, shown repeats[rare] times
    first = int(repeats[:rare].sum())
    items = [balanced[first + k] for k in range(int(repeats[rare]))]
    assert {int(item["index"]) for item in items} == {int(plain[rare]["index"])}
    assert all(item["image"].shape == (2, store.size, store.size) for item in items)


def test_the_joint_diffusion_model_weighs_the_mask_unless_told_otherwise(
    builtin_dataset: Path,
) -> None:
    store = open_dataset(builtin_dataset)
    model = joint_model("diffusion", store, {})
    assert isinstance(model, DiffusionModel) and model.config.mask_weight == MASK_WEIGHT > 0
    plain = joint_model("diffusion", store, {"mask_weight": 0.0})
    assert isinstance(plain, DiffusionModel) and plain.config.mask_weight == 0.0


def test_a_joint_generator_trained_twice_with_one_seed_is_the_same(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    from medgen.tasks.augment import train_joint_generator
    from medgen.train.recipe import read_run_config

    (tmp_path / "gan.toml").write_text("[model]\nwidth = 8\n")
    weights = []
    for k in range(2):
        torch.manual_seed(100 + k)  # whatever the global generators held before
        config = read_run_config(tmp_path / "gan.toml", "gan", budget="2steps", batch_size=4)
        train_joint_generator("gan", builtin_dataset, tmp_path / f"run{k}", config, progress=False)
        weights.append(load_file(str(tmp_path / f"run{k}" / "model" / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_a_joint_diffusion_run_resumed_ends_as_one_uninterrupted_run(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    from medgen.tasks.augment import train_joint_generator
    from medgen.train.recipe import read_run_config

    (tmp_path / "joint.toml").write_text(
        "[model]\nsteps = 2\n"
        "unet = { channels = [8, 16], attention_levels = [false, false], num_head_channels = 8 }\n"
        "[train]\ncheckpoint_every = 2\nlog_every = 1\n"
    )

    def run(out: str, steps: int, resume: bool = False) -> None:
        config = read_run_config(
            tmp_path / "joint.toml", "diffusion", budget=f"{steps}steps", batch_size=4
        )
        train_joint_generator(
            "diffusion", builtin_dataset, tmp_path / out, config, progress=False, resume=resume
        )

    run("one", 4)
    run("two", 2)
    torch.manual_seed(7)  # the resumed session must not depend on the global generators
    run("two", 4, resume=True)
    one = load_file(str(tmp_path / "one" / "model" / "model.safetensors"))
    two = load_file(str(tmp_path / "two" / "model" / "model.safetensors"))
    assert one.keys() == two.keys()
    assert all(torch.equal(one[name], two[name]) for name in one)
