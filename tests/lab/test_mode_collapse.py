"""The mode-collapse benchmark: row shape, equal budgets, the diffusion finding the grid's modes,
the summary's arithmetic and bad arguments, at a tiny budget (single-threaded)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from cli_support import run_cli
from medgen.evaluate.modes import mode_metrics
from medgen.lab import EXPERIMENTS
from medgen.lab.mode_collapse import (
    COLUMNS,
    MIXTURES,
    VARIANTS,
    benchmark,
    mode_collapse_rows,
    run_mode_collapse_lab,
    summarise,
    train_family,
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        return mode_collapse_rows([0, 1], scale=0.0125, n_samples=400)  # 50 steps


def test_rows_have_one_row_per_mixture_family_seed(rows: pd.DataFrame) -> None:
    assert list(rows.columns) == COLUMNS
    assert len(rows) == len(MIXTURES) * len(VARIANTS) * 2
    assert set(zip(rows["mixture"], rows["family"], rows["seed"], strict=True)) == {
        (m, f, s) for m in MIXTURES for f in VARIANTS for s in (0, 1)
    }
    assert (rows["of"] == rows["mixture"].map({"ring": 8, "grid": 25})).all()
    assert rows["modes"].between(0, rows["of"]).all()
    assert rows["high_quality"].between(0, 100).all()
    assert (rows["reverse_kl"] >= 0).all()
    diffusion = rows["family"].str.startswith("diffusion")
    assert rows.loc[diffusion, "nfe"].notna().all() and rows.loc[~diffusion, "nfe"].isna().all()


def test_every_family_gets_the_same_budget(rows: pd.DataFrame) -> None:
    assert rows["steps"].nunique() == 1 and rows["steps"].iloc[0] == 50
    assert rows["batch_size"].nunique() == 1
    sizes = rows.groupby("family")["parameters"].first()
    assert sizes.max() / sizes.min() < 1.1  # similar parameter counts


def test_diffusion_finds_most_grid_modes_at_a_small_budget() -> None:
    # Across seeds 0-5 at 200 steps the model found 25/25 modes with 49-77% high quality.
    bench = benchmark("grid")
    trained = train_family("diffusion", "grid", seed=3, steps=200)
    samples = trained.variants["diffusion"].sample(1000, torch.Generator().manual_seed(0))
    metrics = mode_metrics(samples, bench.means, bench.std)
    assert metrics.modes_captured >= 22
    assert metrics.high_quality > 30


def test_summarise_gives_mean_std_and_min_over_seeds() -> None:
    base = {"mixture": "grid", "of": 25, "parameters": 10, "steps": 5, "batch_size": 2}
    hand = pd.DataFrame(
        [
            {
                **base,
                "family": "gan",
                "seed": 0,
                "modes": 20,
                "high_quality": 50.0,
                "reverse_kl": 0.2,
                "train_s": 1.0,
                "nfe": None,
            },
            {
                **base,
                "family": "gan",
                "seed": 1,
                "modes": 24,
                "high_quality": 70.0,
                "reverse_kl": 0.4,
                "train_s": 3.0,
                "nfe": None,
            },
            {
                **base,
                "family": "diffusion",
                "seed": 0,
                "modes": 25,
                "high_quality": 90.0,
                "reverse_kl": 0.01,
                "train_s": 2.0,
                "nfe": 40,
            },
        ],
        columns=COLUMNS,
    )
    table = summarise(hand).set_index("family")
    assert list(table.index) == ["gan", "diffusion"]  # the rows' order
    gan = table.loc["gan"]
    assert gan["modes_mean"] == 22 and gan["modes_std"] == pytest.approx(8**0.5)
    assert gan["modes_min"] == 20 and gan["seeds"] == 2 and gan["of"] == 25
    assert gan["high_quality_mean"] == 60 and gan["reverse_kl_mean"] == pytest.approx(0.3)
    one = table.loc["diffusion"]
    assert one["modes_std"] == 0 and one["nfe"] == 40 and one["steps"] == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": []}, "at least one seed"),
        ({"seeds": [0], "scale": 0.0}, "scale must be positive"),
        ({"seeds": [0], "scale": -1.0}, "scale must be positive"),
        ({"seeds": [0], "n_samples": 0}, "n_samples"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mode_collapse_rows(**kwargs)


def test_unknown_family_and_mixture_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        train_family("flow", "grid", 0, 10)
    with pytest.raises(ValueError, match="unknown mixture"):
        train_family("gan", "spiral", 0, 10)


def test_lab_writes_figure_and_numbers(tmp_path: Path) -> None:
    assert EXPERIMENTS["mode-collapse"] is run_mode_collapse_lab
    result = run_mode_collapse_lab(tmp_path, scale=0.0125, seeds=1)
    assert (tmp_path / result.figures[0].path).is_file()
    numbers = json.loads(json.dumps(result.numbers, allow_nan=False))  # strict JSON
    assert len(numbers["rows"]) == len(MIXTURES) * len(VARIANTS)
    families = {r["family"] for r in numbers["summary_table"]}
    assert families == {*VARIANTS, "data"}
    assert "grid" in result.summary and "modes" in result.summary


def test_cli_lists_the_experiment() -> None:
    result = run_cli("lab", "--help")
    assert result.returncode == 0, result.stderr
    assert "mode-collapse" in result.stdout


def test_the_lab_command_refuses_a_bad_scale(tmp_path: Path) -> None:
    from cli_support import assert_one_line_error, run_cli

    result = run_cli("lab", "mode-collapse", "--out", tmp_path / "mc", "--scale", "0")
    assert_one_line_error(result, "--scale", "positive")
    assert not (tmp_path / "mc").exists()
