"""`medgen reference list | show | retrain` through the command line."""

from __future__ import annotations

from pathlib import Path

from cli_support import assert_one_line_error, run_cli
from medgen.data.synth import DataConfig, make_dataset
from medgen.reference.catalog import RECIPES


def test_list_names_every_recipe_and_counts_the_shipped() -> None:
    result = run_cli("reference", "list")
    assert result.returncode == 0, result.stderr
    for name in RECIPES:
        assert name in result.stdout
    assert f"of {len(RECIPES)} shipped" in result.stdout


def test_an_unknown_name_is_one_line() -> None:
    assert_one_line_error(run_cli("reference", "show", "nope"), "nope", "known:")
    assert_one_line_error(
        run_cli("reference", "retrain", "nope", "--data", "x", "--out", "y"), "nope"
    )


def test_retrain_at_a_tiny_budget_writes_a_reference_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_dataset(data, DataConfig(size=32, n_train=80, n_dev=16, n_test=4, seed=2), workers=1)
    result = run_cli(
        "reference",
        "retrain",
        "healthy_vae",
        "--data",
        data,
        "--out",
        tmp_path / "out",
        "--budget",
        "2steps",
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "2 steps" in result.stdout
    assert (tmp_path / "out" / "healthy_vae" / "provenance.json").is_file()
    assert (tmp_path / "out" / "healthy_vae" / "model" / "model.safetensors").is_file()
    again = run_cli(
        "reference",
        "retrain",
        "healthy_vae",
        "--data",
        data,
        "--out",
        tmp_path / "out",
        "--budget",
        "2steps",
    )
    assert_one_line_error(again, "already holds a run")
