"""`medgen train` and `medgen sample` end to end on the built-in data, and their bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_support import assert_one_line_error, run_cli
from medgen.tensorio import load_tensors

SMALL_VAE = """
[train]
batch_size = 8
log_every = 1
checkpoint_every = 2

[model]
hidden = [8, 16, 16]
latent_channels = 2
"""
SMALL_DIFFUSION = """
[train]
batch_size = 8
log_every = 1

[model]
steps = 3
unet = { channels = [16, 32], attention_levels = [false, true], num_head_channels = 16 }
"""


def train_small_vae(data: Path, root: Path, *options: str) -> Path:
    """`medgen train vae` of SMALL_VAE for 3 steps into root/vae; the run folder."""
    (root / "vae.toml").write_text(SMALL_VAE)
    out = root / "vae"
    config = ("--config", root / "vae.toml", "--budget", "3steps")
    result = run_cli("train", "vae", "--data", data, "--out", out, *config, *options)
    assert result.returncode == 0, result.stderr
    assert "finished: 3 steps" in result.stdout
    return out


@pytest.fixture(scope="module")
def vae_run(builtin_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_vae(builtin_dataset, tmp_path_factory.mktemp("runs"))


def test_vae_run_folder_holds_everything(vae_run: Path) -> None:
    summary = json.loads((vae_run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 3
    assert summary["images"] == 24 and summary["family"] == "vae"
    config = json.loads((vae_run / "config.json").read_text())
    assert config["model"]["image_size"] == 64 and config["model"]["latent_channels"] == 2
    assert (vae_run / "model" / "model.safetensors").is_file()
    assert len((vae_run / "metrics.jsonl").read_text().splitlines()) == 3
    assert list((vae_run / "samples").glob("*.png"))


def test_latent_conditional_diffusion_trains_and_samples(
    vae_run: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    (tmp_path / "d.toml").write_text(SMALL_DIFFUSION)
    run = tmp_path / "ldm"
    result = run_cli(
        "train",
        "diffusion",
        "--data",
        builtin_dataset,
        "--out",
        run,
        "--config",
        tmp_path / "d.toml",
        "--budget",
        "2steps",
        "--latent",
        vae_run,
        "--cond",
        "type,location",
    )
    assert result.returncode == 0, result.stderr
    model = json.loads((run / "model" / "model.json").read_text())["config"]
    assert model["latent_vae"]["latent_channels"] == 2 and model["latent_scale"] > 0
    assert model["conditioning"]["names"] == ["tumour_type", "location"]
    assert "brainstem" in model["conditioning"]["vocab"][1]
    assert model["sigma_max"] > model["sigma_data"] > 0

    png = tmp_path / "s.png"
    result = run_cli(
        "sample",
        run,
        "--n",
        "4",
        "--out",
        png,
        "--guidance",
        "2",
        "--cond",
        "location=brainstem,type=malignant",
    )
    assert result.returncode == 0, result.stderr
    assert "3 NFE per image" in result.stdout
    assert Image.open(png).size[0] > 64
    npy = tmp_path / "s.npy"
    assert run_cli("sample", run, "--n", "3", "--out", npy, "--sampler", "heun").returncode == 0
    images = np.load(npy)
    assert images.shape == (3, 64, 64) and images.min() >= 0 and images.max() <= 1

    bad = run_cli("sample", run, "--cond", "location=liver", "--out", tmp_path / "x.png")
    assert_one_line_error(bad, "--cond", "liver")
    assert not (tmp_path / "x.png").exists()


def test_gan_trains(builtin_dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "g.toml").write_text("[train]\nbatch_size = 4\n[model]\nwidth = 8\n")
    result = run_cli(
        "train",
        "gan",
        "--data",
        builtin_dataset,
        "--out",
        tmp_path / "gan",
        "--config",
        tmp_path / "g.toml",
        "--budget",
        "2steps",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"d.loss", "g.loss"} <= set(metrics["metrics"])


def test_resume_continues_and_refusals(
    vae_run: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    again = run_cli("train", "vae", "--data", builtin_dataset, "--out", vae_run)
    assert_one_line_error(again, str(vae_run), "--resume")

    copy = tmp_path / "vae"
    import shutil

    shutil.copytree(vae_run, copy)
    config = vae_run.parent / "vae.toml"
    more = run_cli(
        "train",
        "vae",
        "--data",
        builtin_dataset,
        "--out",
        copy,
        "--config",
        config,
        "--budget",
        "5steps",
        "--resume",
    )
    assert more.returncode == 0, more.stderr
    assert json.loads((copy / "summary.json").read_text())["steps"] == 5

    *older, newest = sorted((copy / "checkpoints").iterdir())
    for folder in older:  # the newest alone: resume has nothing intact to fall back to
        shutil.rmtree(folder)
    (newest / "model.safetensors").write_bytes(b"\x80\x04not a checkpoint")
    broken = run_cli(
        "train",
        "vae",
        "--data",
        builtin_dataset,
        "--out",
        copy,
        "--config",
        config,
        "--budget",
        "6steps",
        "--resume",
    )
    assert_one_line_error(broken, "model.safetensors")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["train", "vae", "--budget", "soon"], ["--budget"]),
        (["train", "flow"], ["'family'", "'flow' is not one of"]),
        (["train", "vae", "--cond", "type"], ["--cond", "unconditional"]),
        (["train", "gan", "--cond", "colour"], ["--cond", "colour"]),
        (["train", "gan", "--latent", "x"], ["--latent"]),
    ],
)
def test_bad_train_options_give_one_line(
    args: list[str], needles: list[str], builtin_dataset: Path, tmp_path: Path
) -> None:
    result = run_cli(*args, "--data", builtin_dataset, "--out", tmp_path / "run")
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "run").exists()


def test_bad_config_and_sample_input(tmp_path: Path, builtin_dataset: Path) -> None:
    (tmp_path / "c.toml").write_text("[model]\nwidht = 3\n")
    result = run_cli(
        "train",
        "gan",
        "--data",
        builtin_dataset,
        "--out",
        tmp_path / "r",
        "--config",
        tmp_path / "c.toml",
    )
    assert_one_line_error(result, "widht")
    assert_one_line_error(run_cli("sample", tmp_path / "nothing"), "not a run folder")
    assert_one_line_error(run_cli("sample", tmp_path, "--out", tmp_path / "s.gif"), "s.gif")


def test_tensorboard_gets_the_metrics_and_samples_and_the_weights_stay(
    vae_run: Path, builtin_dataset: Path, tmp_path: Path
) -> None:
    """The same run as `vae_run` with --log-with tensorboard: its event file, read back, holds
    every metrics.jsonl value and the final sample grid, and the weights are bit-identical."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    out = train_small_vae(builtin_dataset, tmp_path, "--log-with", "tensorboard")
    events = accumulator.EventAccumulator(str(out / "tracker" / "medgen")).Reload()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "nll", "kl"} <= records[0]["metrics"].keys()  # every loss term
    for name in records[0]["metrics"]:
        logged = events.Scalars(f"metrics/{name}")
        assert [e.step for e in logged] == [r["step"] for r in records]
        assert [e.value for e in logged] == pytest.approx([r["metrics"][name] for r in records])
    assert [e.step for e in events.Scalars("lr")] == [1, 2, 3]
    assert len(events.Scalars("images_per_second")) == 3
    (image,) = events.Images("samples")
    assert image.step == 3 and image.width > 64
    for name in ("model/model.safetensors", "checkpoints/step-00000003/model.safetensors"):
        plain, tracked = load_tensors(vae_run / name), load_tensors(out / name)
        assert plain.keys() == tracked.keys()
        assert all(np.array_equal(plain[k].numpy(), tracked[k].numpy()) for k in plain)


def test_a_tracker_whose_package_is_missing_is_one_line(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    import importlib.util

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed")
    out = tmp_path / "run"
    result = run_cli("train", "vae", "--data", builtin_dataset, "--out", out, "--log-with", "wandb")
    assert_one_line_error(result, "--log-with", "needs the 'wandb' package", "pip install wandb")
    assert not out.exists()
