"""`medgen denoise / anomaly / reconstruct` end to end on tiny runs of the built-in data, and
their bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_support import assert_one_line_error, run_cli
from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.exceptions import InputError
from medgen.models import DiffusionModel
from medgen.tasks import STRENGTHS
from medgen.tasks.anomaly_split import SEGMENT_BLURS
from medgen.train.recipe import metadata_filter, new_model, training_set

TINY_DIFFUSION = """
[train]
batch_size = 8
log_every = 1
checkpoint_every = 100
sample_count = 2

[model]
steps = 2
unet = { channels = [8, 16], attention_levels = [false, true], num_head_channels = 8 }
"""
TINY_VAE = """
[train]
batch_size = 8
sample_count = 2

[model]
hidden = [8, 16, 16]
latent_channels = 2
"""


def _train(root: Path, data: Path, family: str, name: str, *extra: str | Path) -> Path:
    config = root / f"{family}.toml"
    config.write_text(TINY_DIFFUSION if family == "diffusion" else TINY_VAE)
    out = root / name
    result = run_cli(
        "train",
        family,
        "--data",
        data,
        "--out",
        out,
        "--config",
        config,
        "--budget",
        "2steps",
        *extra,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def runs(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A pixel diffusion run on all slices, one on healthy slices, a VAE and a latent run."""
    root = tmp_path_factory.mktemp("task_runs")
    out = {"diffusion": _train(root, builtin_dataset, "diffusion", "diffusion")}
    out["healthy"] = _train(root, builtin_dataset, "diffusion", "healthy", "--where", "label=0")
    out["vae"] = _train(root, builtin_dataset, "vae", "vae")
    out["latent"] = _train(root, builtin_dataset, "diffusion", "latent", "--latent", out["vae"])
    return out


def _check_outputs(out: Path, n: int, methods: set[str]) -> dict[str, object]:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == n and set(metrics["methods"]) == methods
    for name in ("input", "output", "truth", "error", "uncertainty"):
        array = np.load(out / "arrays" / f"{name}.npy")
        assert array.shape == (n, 64, 64) and array.dtype == np.float32
        assert np.isfinite(array).all()
    assert np.load(out / "arrays" / "ids.npy").shape == (n,)
    assert len(list((out / "panels").glob("slice_*.png"))) == n
    assert len(pd.read_csv(out / "per_slice.csv")) >= n
    return metrics


def test_denoise_writes_arrays_panels_and_metrics(
    runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "denoised"
    result = run_cli(
        "denoise",
        runs["diffusion"],
        "--data",
        builtin_dataset,
        "--out",
        out,
        "--limit",
        "3",
        "--noise",
        "0.1",
        "--k",
        "2",
        "--steps",
        "2",
        "--peers",
        "tv_chambolle,wavelet",
        "--batch-size",
        "2",
    )
    assert result.returncode == 0, result.stderr
    metrics = _check_outputs(out, 3, {"medgen", "tv_chambolle", "wavelet"})
    strengths = metrics["strengths"]
    assert metrics["nfe_per_slice"] == 2
    assert set(strengths) == {"medgen", "tv_chambolle", "wavelet"}  # type: ignore[arg-type]
    assert strengths["medgen"] in STRENGTHS  # type: ignore[index]  # tuned on dev
    assert "medgen: PSNR" in result.stdout and "wrote" in result.stdout
    uncertainty = np.load(out / "arrays" / "uncertainty.npy")
    assert uncertainty.max() > 0  # two samples differ


def test_a_given_strength_is_used_untuned(
    runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "told"
    args = ("--limit", "2", "--method", "mean", "--strength", "1.3")
    result = run_cli("denoise", runs["diffusion"], "--data", builtin_dataset, "--out", out, *args)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["strengths"] == {"medgen": 1.3} and metrics["settings"]["strength"] == 1.3


def test_reconstruct_writes_arrays_panels_and_metrics(
    runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "recon"
    result = run_cli(
        "reconstruct",
        runs["diffusion"],
        "--data",
        builtin_dataset,
        "--out",
        out,
        "--limit",
        "2",
        "--accel",
        "4",
        "--mask",
        "cartesian",
        "--k",
        "2",
        "--steps",
        "3",
        "--peers",
        "zero_filled",
    )
    assert result.returncode == 0, result.stderr
    metrics = _check_outputs(out, 2, {"medgen", "zero_filled"})
    assert metrics["nfe_per_slice"] == 3
    assert metrics["measured_fraction"] == pytest.approx(0.25, abs=0.02)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "budget", "nfe"),
    [
        ("ensemble", ["--levels", "2", "--draws", "3"], 6),
        (
            "partial",
            [
                "--steps",
                "2",
                "--repeats",
                "1",
                "--truth",
                "whole",
                "--cleanup",
                "fill",
                "--segment-blur",
                "1",
            ],
            3,
        ),
    ],
)
def test_anomaly_on_a_healthy_run_with_the_vae_baseline(
    runs: dict[str, Path],
    builtin_dataset: Path,
    tmp_path: Path,
    method: str,
    budget: list[str],
    nfe: int,
) -> None:
    config = json.loads((runs["healthy"] / "summary.json").read_text())
    assert config["images"] == 16  # 2 steps of 8 healthy slices
    out = tmp_path / "anomaly"
    result = run_cli(
        "anomaly",
        runs["healthy"],
        "--data",
        builtin_dataset,
        "--out",
        out,
        "--vae",
        runs["vae"],
        "--limit",
        "6",
        "--t-sigma",
        "0.2",
        "--method",
        method,
        *budget,
    )
    assert result.returncode == 0, result.stderr
    metrics = _check_outputs(out, 6, {"medgen", "vae"})
    groups = metrics["methods"]["medgen"]["groups"]  # type: ignore[index]
    assert {"slice_auroc", "slice_auprc", "pixel_auprc", "dice"} <= set(groups["all"])
    assert metrics["methods"]["medgen"]["nfe_per_slice"] == nfe  # type: ignore[index]
    headline = "whole" if "--truth" in budget else "tumour"
    assert metrics["truth"] == headline
    for name in ("medgen", "vae"):  # every truth scored, the headline one on top
        found = metrics["methods"][name]  # type: ignore[index]
        assert set(found["by_truth"]) == {"whole", "tumour"}
        assert found["groups"] == found["by_truth"][headline]["groups"]
        assert found["cleanup"] == ("fill" if "--cleanup" in budget else found["cleanup"])
        assert found["cleanup"] in ("none", "fill", "region")
        chosen_on_dev = "--segment-blur" not in budget
        assert found["segment_blur"] in (SEGMENT_BLURS if chosen_on_dev else (1.0,))
    truth = np.load(out / "arrays" / "truth.npy")
    ids = np.load(out / "arrays" / "ids.npy")
    store = open_dataset(builtin_dataset)
    expected = store.array("tumour_mask")[ids] > 0
    if headline == "whole":  # tumour and oedema
        expected |= store.array("oedema_mask")[ids] > 0
    np.testing.assert_array_equal(truth, expected.astype(np.float32))


def test_where_trains_on_the_matching_slices_only(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    model = new_model("diffusion", store, {}, None, None)
    assert isinstance(model, DiffusionModel)
    healthy = training_set(store, model, "label=0")
    train = store.split("train")
    assert len(healthy) == int((train["label"] == 0).sum()) < len(train)
    with pytest.raises(InputError, match="no metadata column 'colour'"):
        metadata_filter(store.meta, "colour=red")
    with pytest.raises(InputError, match="has no slices matching"):
        training_set(store, model, "location=nowhere")


@pytest.fixture(scope="module")
def small_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "data32"
    make_dataset(out, DataConfig(size=32, n_train=8, n_dev=8, n_test=4, seed=1), workers=1)
    return out


@pytest.mark.parametrize(
    ("command", "run", "extra", "needles"),
    [
        ("denoise", "vae", [], ["need a diffusion model", "family 'vae'"]),
        ("anomaly", "latent", [], ["pixel-space diffusion model"]),
        ("reconstruct", "diffusion", ["--accel", "9"], ["--accel", "outside [2, 8]"]),
        ("reconstruct", "diffusion", ["--accel", "1.5"], ["--accel"]),
        ("denoise", "diffusion", ["--noise", "lots"], ["--noise", "'lots' is not a number"]),
        ("denoise", "diffusion", ["--noise", "nan"], ["--noise", "not a finite number"]),
        ("denoise", "diffusion", ["--peers", "magic"], ["--peers", "unknown peer 'magic'"]),
        ("denoise", "diffusion", ["--strength", "-1"], ["--strength", "must be positive"]),
        ("reconstruct", "diffusion", ["--mask", "spiral"], ["--mask", "'spiral' is not one of"]),
        ("anomaly", "healthy", ["--vae", "diffusion"], ["--vae needs a VAE run"]),
        ("anomaly", "healthy", ["--method", "dream"], ["--method", "'dream' is not one of"]),
        ("anomaly", "healthy", ["--truth", "rim"], ["--truth", "'rim' is not one of"]),
        ("anomaly", "healthy", ["--cleanup", "erode"], ["--cleanup", "'erode' is not one of"]),
        ("anomaly", "healthy", ["--noise-kind", "pink"], ["--noise-kind", "'pink' is not one of"]),
        ("anomaly", "healthy", ["--segment-blur", "-1"], ["--segment-blur", "0 or more"]),
        ("anomaly", "healthy", ["--segment-blur", "soft"], ["--segment-blur", "not a number"]),
        ("anomaly", "healthy", ["--draws", "20"], ["--levels/--draws", "80 NFE per slice"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    runs: dict[str, Path],
    builtin_dataset: Path,
    tmp_path: Path,
    command: str,
    run: str,
    extra: list[str],
    needles: list[str],
) -> None:
    out = tmp_path / "out"
    resolved = [str(runs[e]) if e in runs else e for e in extra]
    result = run_cli(
        command, runs[run], "--data", builtin_dataset, "--out", out, "--limit", "1", *resolved
    )
    assert_one_line_error(result, *needles)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_images_of_another_size_are_refused(
    runs: dict[str, Path], small_images: Path, tmp_path: Path
) -> None:
    result = run_cli("denoise", runs["diffusion"], "--data", small_images, "--out", tmp_path / "o")
    assert_one_line_error(result, "64-pixel images", "32-pixel")
    assert not (tmp_path / "o").exists()


def test_an_existing_output_folder_is_kept(
    runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "kept"
    out.mkdir()
    (out / "note.txt").write_text("mine")
    result = run_cli("reconstruct", runs["diffusion"], "--data", builtin_dataset, "--out", out)
    assert_one_line_error(result, "already exists", "--overwrite")
    assert (out / "note.txt").read_text() == "mine"
