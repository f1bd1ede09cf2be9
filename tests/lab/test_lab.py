"""The lab experiments: their numbers show what they claim, at a reduced budget for speed."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from cli_support import run_cli
from medgen.lab import run_experiment


def _figures_exist(out: Path, result_figures: list) -> None:
    for figure in result_figures:
        with Image.open(out / figure.path) as image:
            assert image.format == "PNG" and image.size[0] > 300


def test_score_lab_shows_modes_merging_and_the_score_flattening(tmp_path: Path) -> None:
    result = run_experiment("score", tmp_path)
    rows = result.numbers["per_t"]
    assert rows[0]["t"] == 0.0 and rows[0]["modes"] == 3
    assert rows[-1]["modes"] == 1
    modes = [r["modes"] for r in rows]
    assert modes == sorted(modes, reverse=True)
    peaks = [r["max_abs_score_on_grid"] for r in rows]
    assert peaks == sorted(peaks, reverse=True)
    assert json.loads((tmp_path / "numbers.json").read_text())["experiment"] == "score"
    _figures_exist(tmp_path, result.figures)


def test_why_noise_numbers_show_that_noise_is_needed(tmp_path: Path) -> None:
    result = run_experiment("why-noise", tmp_path, scale=0.2)
    by = {(r["data"], r["method"]): r for r in result.numbers["rows"]}
    for data in ("ring (2-D)", "sine curve (2-D)", "4 planes (d=16)"):
        t0 = by[(data, "Langevin, t = 0 score")]["sliced_w1_to_data"]
        for noisy in ("annealed Langevin", "reverse SDE"):
            assert by[(data, noisy)]["sliced_w1_to_data"] < t0 / 2, (data, noisy)
            assert by[(data, noisy)]["mean_distance_to_manifold"] < 0.01
    _figures_exist(tmp_path, result.figures)


def test_naive_and_denoising_score_matching_agree(tmp_path: Path) -> None:
    numbers = run_experiment("score-matching", tmp_path, scale=0.15).numbers
    assert numbers["difference_spread"] < 4 * numbers["difference_typical_se"]
    # Far from the optimum the gradients coincide; near it they are small and the DSM side's
    # Monte Carlo noise shows, so the bound there is looser.
    assert numbers["histories"]["naive"][0]["grad_cosine"] > 0.999
    assert numbers["grad_cosine_min"] > 0.85
    first = numbers["histories"]["dsm"][0]["j_naive"]
    assert numbers["final_score_error_j_naive"]["dsm"] < first / 5  # DSM learned the score


def test_lab_cli_writes_numbers_and_figures(tmp_path: Path) -> None:
    result = run_cli("lab", "score", "--out", tmp_path / "score")
    assert result.returncode == 0, result.stderr
    assert "modes" in result.stdout
    assert (tmp_path / "score" / "numbers.json").is_file()
    assert len(list((tmp_path / "score" / "figures").glob("*.png"))) == 3
