"""`medgen compare`: the numbers on toy features, the sentences, and the command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from cli_support import assert_one_line_error, run_cli
from medgen.compare import MetricSettings, quality_row
from medgen.compare.summary import (
    blind_classes,
    condition_table,
    display_table,
    feature_space_sentences,
    is_blind,
    summary_sentences,
)
from medgen.evaluate.features import FeatureConfig, train_extractor
from medgen.train.recipe import read_run_config, train_on_data

SETTINGS = MetricSettings(n_halves=20, kid_subsets=10)


def gaussian(n: int, shift: float, seed: int) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed)) + shift


def test_a_copy_of_the_training_set_is_caught_and_a_fresh_draw_is_not() -> None:
    train, held, reference = gaussian(300, 0, 1), gaussian(300, 0, 2), gaussian(300, 0, 3)
    fresh = quality_row(gaussian(300, 0, 4), reference, train, held, SETTINGS)
    copied = quality_row(train[:200] + 1e-3, reference, train, held, SETTINGS)
    assert copied["fraction_closer"] > 0.9 and copied["memorisation_ratio"] < 0.05
    assert fresh["fraction_closer"] < 0.15 and 0.7 < fresh["memorisation_ratio"] < 1.4
    assert fresh["fd"] < 0.2 and fresh["recall"] > 0.8 and fresh["precision"] > 0.8


def test_a_shifted_set_scores_worse_and_intervals_are_ordered() -> None:
    train, held, reference = gaussian(300, 0, 1), gaussian(300, 0, 2), gaussian(300, 0, 3)
    shifted = quality_row(gaussian(300, 3.0, 4), reference, train, held, SETTINGS)
    assert shifted["fd"] == pytest.approx(4 * 3.0**2, rel=0.1)  # |mu_r - mu_f|^2 over 4 dims
    assert shifted["precision"] < 0.5 and shifted["recall"] < 0.5
    for name in ("fd", "precision", "recall", "density", "coverage"):
        assert shifted[f"{name}_low"] <= shifted[name] <= shifted[f"{name}_high"]
        assert len(shifted["half_samples"][name]) == 20
    assert shifted["prdc_k"] == 5 and shifted["n_fake"] == 300
    assert shifted["kid_subset_size"] == 150 and shifted["kid_std"] > 0


@pytest.mark.parametrize("seed", [10, 20, 30])
def test_two_indistinguishable_runs_are_never_called_clear(seed: int) -> None:
    """Two fresh draws of one distribution: every lead's paired interval includes zero."""
    train, held, reference = gaussian(300, 0, 1), gaussian(300, 0, 2), gaussian(300, 0, 3)
    settings = MetricSettings(n_halves=50, kid_subsets=10)
    rows = []
    for run, family, offset in (("a", "diffusion", 0), ("b", "gan", 1)):
        r = quality_row(gaussian(300, 0, seed + offset), reference, train, held, settings)
        rows.append(r | {"run": run, "model": family, "family": family, "nfe": 1})
        rows[-1]["ms_per_image"] = 1.0
    text = " ".join(summary_sentences(rows, None))
    assert "clear of" not in text and text.count("so that lead is not clear") == 3
    assert "do not confirm" in text


def row(run: str, family: str, fd: float, precision: float, recall: float) -> dict[str, object]:
    r: dict[str, object] = {
        "run": run,
        "model": family,
        "family": family,
        "nfe": 1,
        "kid": 0.01,
        "kid_std": 0.001,
        "memorisation_ratio": 1.0,
        "fraction_closer": 0.05,
        "ms_per_image": 2.0,
    }
    halves: dict[str, list[float]] = {}
    for name, value in (
        ("fd", fd),
        ("precision", precision),
        ("recall", recall),
        ("coverage", recall),
        ("density", precision),
    ):
        r |= {name: value, f"{name}_low": value * 0.95, f"{name}_high": value * 1.05}
        halves[name] = [value * (1 + 0.05 * i / 10) for i in range(-10, 11)]
    return r | {"half_samples": halves}


def test_the_summary_states_what_the_numbers_show() -> None:
    rows = [row("d", "diffusion", 10, 0.8, 0.4), row("g", "gan", 30, 0.7, 0.1)]
    text = " ".join(summary_sentences(rows, None))
    assert "d (diffusion) has the lowest Fréchet distance" in text
    assert "d (diffusion) has the highest recall" in text and "clear of every" in text
    assert "lead over" not in text
    # 3 rankings and Medfusion's recall claim: each reads its interval at 1 - 0.05 / 4
    level = "the 98.75% interval (95% over 4 claims, Bonferroni)"
    assert text.count(f"clear of every other run: {level} of each lead excludes zero") == 3
    assert f"these runs confirm it, {level} of the difference lying above zero" in text
    rows[1] |= row("g", "gan", 30, 0.9, 0.5)
    rows[1]["fraction_closer"] = 0.4
    text = " ".join(summary_sentences(rows, None))
    assert "do not confirm" in text and "g (gan) has the highest recall" in text
    assert f"do not confirm it, {level} of the difference not above zero" in text
    assert "g: 40% of its samples lie nearer the training set" in text
    table = display_table(rows)
    assert list(table.index) == ["d", "g"] and table.loc["d", "FD"] == "10 [9.5, 10.5]"


SMALL = {
    "vae": "[model]\nhidden = [8, 16, 16]\nlatent_channels = 2\n",
    "gan": "[model]\nwidth = 8\n",
    "diffusion": "[model]\nsteps = 3\n"
    "unet = { channels = [16, 32], attention_levels = [false, true], num_head_channels = 16 }\n",
}


@pytest.fixture(scope="module")
def quick_runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A VAE, a conditional latent diffusion model on it, a GAN (2 steps each), and features."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("compare")
    runs = {}
    for family in ("vae", "diffusion", "gan"):
        (root / f"{family}.toml").write_text(SMALL[family])
        config = read_run_config(root / f"{family}.toml", family, budget="2steps", batch_size=4)
        runs[family] = root / family
        train_on_data(
            family,
            builtin_dataset,
            runs[family],
            config,
            progress=False,
            cond="type,location" if family == "diffusion" else None,
            latent=runs["vae"] if family == "diffusion" else None,
        )
    runs["features"] = root / "features"
    train_extractor(builtin_dataset, runs["features"], FeatureConfig(steps=5, batch_size=16))
    return runs


def test_compare_three_quick_runs(
    quick_runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    result = run_cli(
        "compare",
        quick_runs["diffusion"],
        quick_runs["gan"],
        quick_runs["vae"],
        "--data",
        builtin_dataset,
        "--out",
        out,
        "--features",
        quick_runs["features"],
        "--n",
        "30",
        "--n-real",
        "30",
        "--per-condition",
        "12",
    )
    assert result.returncode == 0, result.stderr
    assert "lowest Fréchet distance" in result.stdout
    record = json.loads((out / "metrics.json").read_text())
    assert [r["run"] for r in record["runs"]] == ["diffusion", "gan", "vae"]
    assert record["runs"][0]["model"] == "latent diffusion" and record["runs"][0]["nfe"] == 3
    assert record["floor"]["run"] == "real (dev split)"
    assert record["features"].startswith("medgen:") and record["settings"]["n"] == 30
    per = pd.read_csv(out / "per_condition.csv")
    assert set(per["run"]) == {"diffusion"}
    assert "tumour_type=none, location=none" in set(per["condition"])
    assert (per["real slices"] >= 10).all() and (per["samples"] == 12).all()
    assert (per["KID x1000 std"] > 0).all()  # a spread over subsets, as in the main table
    for name in ("fd", "precision", "recall", "coverage"):  # each estimate inside its interval
        assert (per[f"{name}_low"] <= per[name]).all() and (per[name] <= per[f"{name}_high"]).all()
    assert (per["fd_low"] < per["fd_high"]).all()
    scores = record["feature_scores"]
    assert any(k.startswith("location recall ") for k in scores)
    for condition, blind in zip(per["condition"], per["blind"], strict=True):
        location = condition.split("location=")[1]
        recall = scores.get(f"location recall {location}", 1.0)  # none: not a tumour location
        assert blind == (recall < 0.80), condition
    table = pd.read_csv(out / "metrics.csv")
    assert {"fd", "recall", "memorisation_ratio", "ms_per_image"} <= set(table.columns)
    html = (out / "report.html").read_text()
    assert "Per condition" in html and "samples.png" in html and (out / "samples.png").is_file()
    assert "feature space</th>" in html and " ± " in html


def test_compare_refuses_bad_input(
    quick_runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    base = ["--data", builtin_dataset, "--features", quick_runs["features"]]
    result = run_cli("compare", tmp_path / "nope", *base, "--out", tmp_path / "o")
    assert_one_line_error(result, "nope", "not a run folder")
    result = run_cli("compare", quick_runs["gan"], *base, "--out", tmp_path / "o", "--n", "3")
    assert_one_line_error(result, "--n", "at least 10")
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("keep me")
    result = run_cli("compare", quick_runs["gan"], *base, "--out", kept)
    assert_one_line_error(result, "kept", "already exists")
    assert (kept / "mine.txt").read_text() == "keep me"
    result = run_cli(
        "compare", quick_runs["gan"], quick_runs["gan"], *base, "--out", tmp_path / "o"
    )
    assert_one_line_error(result, "named twice")
    result = run_cli(
        "compare",
        quick_runs["gan"],
        "--data",
        builtin_dataset,
        "--features",
        tmp_path,
        "--out",
        tmp_path / "o",
    )
    assert_one_line_error(result, "not a feature extractor")
    assert not (tmp_path / "o").exists()


def test_intervals_stay_where_their_metric_can_lie() -> None:
    # 20 samples of the real distribution: precision and recall near 1, with wide intervals
    train, held, reference = gaussian(20, 0, 1), gaussian(20, 0, 2), gaussian(20, 0, 3)
    row = quality_row(gaussian(20, 0, 4), reference, train, held, SETTINGS)
    for name in ("precision", "recall", "coverage"):
        assert 0.0 <= row[f"{name}_low"] <= row[name] <= row[f"{name}_high"] <= 1.0, name
    for name in ("fd", "density"):
        assert 0.0 <= row[f"{name}_low"] <= row[name] <= row[f"{name}_high"], name


def test_kid_reads_as_mean_and_spread_without_exponents() -> None:
    train, held, reference = gaussian(40, 0, 1), gaussian(40, 0, 2), gaussian(40, 0, 3)
    far = quality_row(gaussian(40, 30.0, 4), reference, train, held, SETTINGS)  # KID x1000 > 1000
    far |= {"run": "far", "family": "vae", "model": "vae"}
    cell = display_table([far]).iloc[0]["KID x1000"]
    assert "e+" not in cell and " ± " in cell and float(cell.split(" ± ")[0]) > 1000


def test_the_feature_space_says_what_it_is_blind_to() -> None:
    sees_all = {
        "tumour presence AUROC": 0.97,
        "tumour_type accuracy": 0.9,
        "location accuracy": 0.81,
    }
    text = " ".join(feature_space_sentences(sees_all))
    assert "sees tumour presence (0.97 ≥ 0.95), tumour type" in text and "blind" not in text
    chance = {"tumour presence AUROC": 0.57, "tumour_type accuracy": 0.9, "location accuracy": 0.5}
    text = " ".join(feature_space_sentences(chance))
    assert "blind to tumour presence (0.57 < 0.95), tumour location (0.50 < 0.80)" in text
    assert "sees tumour type (0.90 ≥ 0.85)" in text
    text = " ".join(feature_space_sentences({"tumour_type accuracy": float("nan")}))
    assert "not scored on tumour presence, tumour type, tumour location" in text
    assert "The feature space sees" not in text


RECALLS = {
    "location accuracy": 0.89,
    "location recall brainstem": 0.14,
    "location recall cerebellum": 0.94,
    "location recall frontal": 0.86,
}
SEEN = {"tumour presence AUROC": 0.97, "tumour_type accuracy": 0.92}


def test_a_location_the_space_misses_is_called_blind_despite_the_overall_accuracy() -> None:
    sentences = feature_space_sentences(SEEN | RECALLS)
    text = " ".join(sentences)
    assert "The feature space is blind to brainstem tumours (it places 14% of them on dev, " in text
    assert "per-condition rows for brainstem (marked blind) are not read" in text
    assert "sees tumour location (" not in text and "tumour location except brainstem" in text
    assert "cerebellum tumours" not in text and "frontal tumours" not in text
    assert blind_classes(SEEN | RECALLS) == {"location": {"brainstem": 0.14}}


def test_no_location_is_called_blind_when_every_recall_meets_the_target() -> None:
    scores = SEEN | RECALLS | {"location recall brainstem": 0.80}  # the target itself passes
    text = " ".join(feature_space_sentences(scores))
    assert "blind" not in text and blind_classes(scores) == {}
    assert (
        "sees tumour presence (0.97 ≥ 0.95), tumour type (0.92 ≥ 0.85), tumour location (0.89"
        in text
    )
    assert "each location" in text
    unscored = " ".join(feature_space_sentences(SEEN | {"location accuracy": 0.89}))
    assert "tumour location (0.89 ≥ 0.80; not scored per location)" in unscored


def test_a_blind_location_marks_its_conditions_and_kid_shows_its_spread() -> None:
    blind = blind_classes(SEEN | RECALLS)
    assert is_blind({"tumour_type": "malignant", "location": "brainstem"}, blind)
    assert not is_blind({"tumour_type": "malignant", "location": "frontal"}, blind)
    assert not is_blind({"tumour_type": "brainstem"}, blind)  # a class of another head

    def row(where: str, fd: float, kid: float, std: float) -> dict[str, object]:
        metrics = {"fd": (fd, fd - 5, fd + 5)} | {
            name: (0.5, 0.4, 0.6) for name in ("precision", "recall", "coverage")
        }
        return {
            "run": "d",
            "condition": f"location={where}",
            "real slices": 12,
            "samples": 20,
            **{
                f"{name}{end}": value
                for name, values in metrics.items()
                for end, value in zip(("", "_low", "_high"), values, strict=True)
            },
            "KID x1000": kid,
            "KID x1000 std": std,
            "blind": is_blind({"location": where}, blind),
        }

    rows = [row("brainstem", 39.0, 2.04, 0.51), row("frontal", 250.0, 30.0, 0.0)]
    table = condition_table(rows)
    assert list(table.columns) == [
        "real slices", "samples", "FD", "precision", "recall", "coverage", "KID x1000",
        "feature space",
    ]  # fmt: skip
    brainstem = table.loc[("d", "location=brainstem")]
    assert brainstem["FD"] == "39 [34, 44]" and brainstem["coverage"] == "0.5 [0.4, 0.6]"
    assert brainstem["KID x1000"] == "2.0 ± 0.5" and brainstem["feature space"] == "blind"
    frontal = table.loc[("d", "location=frontal")]
    assert frontal["KID x1000"] == "30.0" and frontal["feature space"] == "sees"
