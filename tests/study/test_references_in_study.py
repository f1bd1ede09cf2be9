"""The study evaluates the shipped reference models on their own data, and trains its own runs,
after one line saying why, on any other data."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from medgen.data.synth import DataConfig, make_dataset
from medgen.reference import zoo
from medgen.reference.retrain import retrain
from medgen.study.chapters import data_chapter, tasks_chapter, uses_chapter
from medgen.study.profiles import PROFILES
from medgen.study.runner import StudyResult, run_study

TASK_REFERENCES = ("pixel_prior", "healthy_prior", "healthy_vae")
USES_REFERENCES = ("registration",)  # trained with the pixel prior, so after it
WITH_REFERENCES = dataclasses.replace(PROFILES["tiny"], references=True)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The data the references are trained on, and other data (another seed)."""
    root = tmp_path_factory.mktemp("data")
    made = []
    for seed in (6, 7):  # seeds whose dev and test splits hold same-level healthy pairs
        out = root / f"data{seed}"
        config = DataConfig(size=32, n_train=80, n_dev=20, n_test=20, seed=seed)
        make_dataset(out, config, workers=1)
        made.append(out)
    return made[0], made[1]


@pytest.fixture(scope="module")
def task_zoo(datasets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tasks chapter's three reference models and the uses chapter's registration networks,
    two steps each, on the first dataset."""
    root = tmp_path_factory.mktemp("zoo")
    for name in TASK_REFERENCES + USES_REFERENCES:
        retrain(name, datasets[0], root / "work", budget="2steps", progress=False, root=root)
        (root / "work" / name).rename(root / name)
    return root


def run_tasks(out: Path, data: Path, zoo_root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(zoo, "MODELS_DIR", zoo_root)
    lines: list[str] = []
    run_study(
        out,
        WITH_REFERENCES,
        data=data,
        chapters={"data": data_chapter, "tasks": tasks_chapter, "uses": uses_chapter},
        workers=1,
        log=lines.append,
    )
    return lines


def test_references_trained_on_the_studys_data_are_evaluated_not_retrained(
    datasets: tuple[Path, Path], task_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = run_tasks(tmp_path, datasets[0], task_zoo, monkeypatch)
    assert not any("training" in line or "trained medgen" in line for line in lines), lines
    assert not (tmp_path / "chapters" / "tasks" / "runs").exists()
    report = (tmp_path / "report.html").read_text()
    assert "Reference models used here" in report
    for name in TASK_REFERENCES:
        assert str(task_zoo / name) in report
    assert "registration networks" in report and "medgen register registration" in report


def test_on_other_data_the_study_says_so_and_trains(
    datasets: tuple[Path, Path], task_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = run_tasks(tmp_path, datasets[1], task_zoo, monkeypatch)
    refused = [line for line in lines if "was trained on data" in line]
    # the uses chapter asks for the pixel prior again, then for the registration networks
    assert len(refused) == len(TASK_REFERENCES) + 2
    assert any("trained medgen" in line for line in lines), lines
    assert all(line.endswith("training one instead") for line in refused)
    runs = tmp_path / "chapters" / "tasks" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == [
        "diffusion",
        "diffusion_healthy",
        "vae_healthy",
    ]
    assert "Reference models used here" not in (tmp_path / "report.html").read_text()


MODEL_REFERENCES = ("autoencoder", "latent_diffusion", "vae", "gan", "features")


def ship(names: tuple[str, ...], data: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """References `names`, trained a few steps each on `data`, as medgen's zoo under `root`."""
    for name in names:  # in the given order: an autoencoder before its latent model
        budget = "2steps" if name != "features" else "3steps"
        retrain(name, data, root / "work", budget=budget, progress=False, root=root)
        (root / "work" / name).rename(root / name)
    monkeypatch.setattr(zoo, "MODELS_DIR", root)


def run_chapters(out: Path, data: Path, chapters: dict[str, Any], lines: list[str]) -> StudyResult:
    """The data chapter and `chapters` with references on, logging into `lines`."""
    return run_study(
        out,
        WITH_REFERENCES,
        data=data,
        chapters={"data": data_chapter, **chapters},
        workers=1,
        log=lines.append,
    )


def test_the_models_and_compare_chapters_sample_the_references_and_train_one_run(
    datasets: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medgen.study.chapters import compare_chapter, models_chapter

    ship(MODEL_REFERENCES, datasets[0], tmp_path / "zoo", monkeypatch)
    lines: list[str] = []
    out = tmp_path / "study"
    chapters = {"models": models_chapter, "compare": compare_chapter}
    result = run_chapters(out, datasets[0], chapters, lines)
    trained = [line for line in lines if ": training " in line]
    assert len(trained) == 1 and "from scratch" in trained[0], lines
    assert (out / "chapters" / "models" / "runs" / "scratch" / "model").is_dir()
    report = result.report.read_text()
    assert report.count("Reference models used here") == 2  # models, and compare's extractor
    assert "latent diffusion, from scratch" in report and "scratch.png" in report
    compared = (out / "chapters" / "compare" / "compare" / "metrics.csv").read_text()
    for name in ("vae", "latent_diffusion", "gan"):
        assert name in compared


@pytest.mark.parametrize("shipped", [("vae", "gan"), ("autoencoder", "vae", "gan")])
def test_a_latent_model_trained_beside_the_reference_vae_works_in_a_spatial_latent(
    shipped: tuple[str, ...],
    datasets: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The comparison's reference VAE has a vector latent, which a diffusion model cannot use:
    with the latent diffusion reference missing (or trained on other data), the chapter trains
    its diffusion model in the shipped autoencoder's latent space, or in one it trains."""
    from medgen.study.chapters import models_chapter

    root = tmp_path / "zoo"
    ship(shipped, datasets[0], root, monkeypatch)
    lines: list[str] = []
    out = tmp_path / "study"
    result = run_chapters(out, datasets[0], {"models": models_chapter}, lines)
    runs = out / "chapters" / "models" / "runs"
    trained = sorted(p.name for p in runs.iterdir())
    report = result.report.read_text()
    assert "latent diffusion's autoencoder" in report  # a provenance row, or a trained run's
    assert "Nothing is trained here" not in report
    assert "had no\nreference trained on these data" in report
    if "autoencoder" in shipped:
        assert trained == ["diffusion"], lines
        assert not any("autoencoder for" in line for line in lines)
    else:
        assert trained == ["autoencoder", "diffusion"], lines
        assert any("training the latent diffusion model's autoencoder" in x for x in lines)
    assert (runs / "diffusion" / "model").is_dir()
    assert str(root / "vae") in report and str(root / "gan") in report
