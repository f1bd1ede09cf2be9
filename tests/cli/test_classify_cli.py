"""`medgen classify` end to end on tiny runs of the built-in data, and its refusals: one line,
exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cli_support import assert_one_line_error, run_in_process
from medgen.train.recipe import read_run_config, train_on_data

TINY = {
    "batch_size": 4,
    "log_every": 1,
    "checkpoint_every": 100,
    "sample_count": 2,
    "budget": "2steps",
}
TINY_UNET = {
    "steps": 2,
    "unet": {"channels": [8, 16], "attention_levels": [False, True], "num_head_channels": 8},
}


def _train(root: Path, data: Path, family: str, name: str, cond: str | None = None) -> Path:
    model = TINY_UNET if family == "diffusion" else {"hidden": [8, 16, 16], "latent_channels": 2}
    config = read_run_config(None, family, model, **TINY)
    out = root / name
    train_on_data(family, data, out, config, cond=cond, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Conditional (tumour type) and unconditional diffusion runs and a VAE, 2 steps each."""
    root = tmp_path_factory.mktemp("classify_runs")
    return {
        "cond": _train(root, builtin_dataset, "diffusion", "cond", "tumour_type"),
        "uncond": _train(root, builtin_dataset, "diffusion", "uncond"),
        "vae": _train(root, builtin_dataset, "vae", "vae"),
    }


def test_classify_writes_posteriors_and_scores(
    runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "classified"
    done = run_in_process(
        "classify",
        runs["cond"],
        "--data",
        builtin_dataset,
        "--limit",
        "5",
        "--draws",
        "2",
        "--label",
        "type",
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy" in done.stdout and "6 NFE" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 5 and metrics["nfe_per_slice"] == 6
    assert metrics["classes"] == ["benign", "malignant", "none"]
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
    per_slice = pd.read_csv(out / "per_slice.csv")
    probs = per_slice[["p_benign", "p_malignant", "p_none"]].to_numpy()
    assert len(per_slice) == 5 and abs(probs.sum(1) - 1).max() < 1e-5
    done = run_in_process("classify", runs["cond"], "--data", builtin_dataset, "--out", out)
    assert_one_line_error(done, "exists")  # not replaced without --overwrite


@pytest.mark.parametrize(
    ("run", "extra", "needles"),
    [
        ("vae", (), ("vae model", "diffusion")),
        ("uncond", (), ("unconditional",)),
        ("cond", ("--label", "location"), ("not conditioned on 'location'", "tumour_type")),
        ("cond", ("--draws", "0"), ("--draws",)),
    ],
)
def test_classify_refusals_are_one_line(
    runs: dict[str, Path],
    builtin_dataset: Path,
    tmp_path: Path,
    run: str,
    extra: tuple[str, ...],
    needles: tuple[str, ...],
) -> None:
    out = tmp_path / "classified"
    done = run_in_process("classify", runs[run], "--data", builtin_dataset, "--out", out, *extra)
    assert_one_line_error(done, *needles)
    assert not out.exists()
