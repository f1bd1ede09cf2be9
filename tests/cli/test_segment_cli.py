"""`medgen segment` end to end on a tiny diffusion run of the built-in data, and its refusals:
a run that is not a pixel diffusion model, a reference model on data it was not trained on,
more labels than the train split holds, a --labels that is no count: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import assert_one_line_error, run_in_process
from medgen.train.recipe import read_run_config, train_on_data

TINY = {"batch_size": 4, "checkpoint_every": 100, "sample_count": 2, "budget": "2steps"}
MODELS = {
    "diffusion": {
        "steps": 2,
        "unet": {"channels": [8, 16], "attention_levels": [False, True], "num_head_channels": 8},
    },
    "vae": {"hidden": [8, 16, 16], "latent_channels": 2},
}


@pytest.fixture(scope="module")
def runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny pixel diffusion run and a tiny VAE run, 2 steps each."""
    root = tmp_path_factory.mktemp("segment_runs")
    out = {}
    for family, model in MODELS.items():
        out[family] = root / family
        config = read_run_config(None, family, model, **TINY)
        train_on_data(family, builtin_dataset, out[family], config, progress=False)
    return out


def test_segment_end_to_end(runs: dict[str, Path], builtin_dataset: Path) -> None:
    done = run_in_process(
        "segment", runs["diffusion"], "--data", builtin_dataset, "--labels", "10",
        "--draws", "2", "--test", "6", "--unet-steps", "2", "--mlp-steps", "20",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for method in ("diffusion features", "unet", "unet+aug"):
        assert method in done.stdout
    assert "tumour" in done.stdout and "oedema" in done.stdout and "white matter" in done.stdout
    assert "target tumour Dice at N = 10" in done.stdout and "2 draws" in done.stdout


@pytest.mark.parametrize(
    ("run", "args", "needles"),
    [
        ("diffusion", ("--labels", "ten"), ("--labels", "'ten'")),
        ("diffusion", ("--labels", "0"), ("--labels",)),
        ("diffusion", ("--labels", "301"), ("--labels", "asks for 301", "train split")),
        ("diffusion", ("--draws", "0"), ("--draws",)),
        ("diffusion", ("--mlp-steps", "0"), ("--mlp-steps",)),
        ("vae", ("--labels", "10"), ("vae", "diffusion model")),
        ("pixel_prior", (), ("reference pixel_prior was trained on data",)),  # not this data
    ],
)
def test_segment_refusals_are_one_line(
    runs: dict[str, Path],
    builtin_dataset: Path,
    run: str,
    args: tuple[str, ...],
    needles: tuple[str, ...],
) -> None:
    done = run_in_process("segment", runs.get(run, run), "--data", builtin_dataset, *args)
    assert_one_line_error(done, *needles)
    assert not done.stdout
