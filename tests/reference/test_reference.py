"""Reference models: packaging, the data-hash check, retraining, and the shipped folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.exceptions import InputError, SettingError
from medgen.models.io import load_model, read_record
from medgen.reference.build import half, holds, recorded_command, trimmed_curve
from medgen.reference.catalog import RECIPES, STEP_FAMILIES, get_recipe, train_argv
from medgen.reference.retrain import retrain
from medgen.reference.zoo import load_reference, require, shipped, usable
from medgen.tasks.registration.run import MEDGEN, PLAIN
from medgen.tasks.registration.saved import load_nets
from medgen.tensorio import load_tensors


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny built-in datasets that differ only in their seed (so in their content hash)."""
    root = tmp_path_factory.mktemp("reference")
    made = []
    for seed in (3, 4):
        out = root / f"data{seed}"
        make_dataset(out, DataConfig(size=32, n_train=80, n_dev=16, n_test=4, seed=seed), workers=1)
        made.append(out)
    return made[0], made[1]


@pytest.fixture(scope="module")
def zoo(two_datasets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model root holding healthy_vae trained for 3 steps on the first dataset."""
    root = tmp_path_factory.mktemp("zoo")
    result = retrain(
        "healthy_vae", two_datasets[0], root / "work", budget="3steps", progress=False, root=root
    )
    (root / "work" / "healthy_vae").rename(root / "healthy_vae")
    assert result.comparison == []  # nothing shipped under `root` to compare with yet
    return root


def test_packaged_reference_is_a_run_with_provenance(zoo: Path, two_datasets: tuple[Path, Path]):
    reference = load_reference("healthy_vae", zoo)
    p = reference.provenance
    store = open_dataset(two_datasets[0])
    assert p["data"]["content_hash"] == store.manifest["content_hash"]
    assert (p["steps"], p["images"]) == (3, 3 * 32)
    assert p["command"] == (
        "medgen train vae --data DATA --out RUN --config train.toml --budget 3steps --where label=0"
    )
    assert p["dtype"] in {"float16", "float32"} and "loss" in p["dev"] and "loss se" in p["dev"]
    model = load_model(reference.folder / "model")  # the folder is a run: model/ loads
    record = read_record(reference.folder / "model")
    assert model.config_dict() == record["config"]  # the config round-trips
    stored = load_tensors(reference.folder / "model" / "model.safetensors")
    want = torch.float16 if p["dtype"] == "float16" else torch.float32
    assert {t.dtype for t in stored.values() if t.is_floating_point()} == {want}
    assert (reference.folder / "train.toml").read_text() == get_recipe(
        "healthy_vae"
    ).config_file.read_text()  # type: ignore[union-attr]
    assert [r.name for r in shipped(zoo)] == ["healthy_vae"]
    config = json.loads((reference.folder / "config.json").read_text())
    assert config["data"] == "DATA"  # no path of the training machine travels with it


def test_mismatched_data_is_refused_in_one_line(zoo: Path, two_datasets: tuple[Path, Path]):
    other = open_dataset(two_datasets[1])
    with pytest.raises(InputError) as err:
        require("healthy_vae", other, zoo)
    assert "was trained on data" in str(err.value) and "\n" not in str(err.value)
    lines: list[str] = []
    assert usable("healthy_vae", other, lines.append, zoo) is None
    assert len(lines) == 1 and "training one instead" in lines[0]
    lines.clear()
    assert usable("healthy_vae", open_dataset(two_datasets[0]), lines.append, zoo) is not None
    assert lines == []
    assert usable("gan", open_dataset(two_datasets[0]), lines.append, zoo) is None
    assert len(lines) == 1 and "not shipped" in lines[0]


def test_retrain_reproduces_the_shipped_model(
    zoo: Path, two_datasets: tuple[Path, Path], tmp_path: Path
):
    again = retrain(
        "healthy_vae", two_datasets[0], tmp_path, budget="3steps", progress=False, root=zoo
    )
    assert again.comparison, "a model shipped for the same data is compared"
    for row in again.comparison:  # same seed, same data, same machine: the same model
        assert row["retrained"] == row["shipped"] and row["agree"]
    shorter = retrain(
        "healthy_vae",
        two_datasets[0],
        tmp_path / "short",
        budget="1steps",
        progress=False,
        root=zoo,
    )
    assert any(row["retrained"] != row["shipped"] for row in shorter.comparison)


def test_retrain_on_other_data_says_so(zoo: Path, two_datasets: tuple[Path, Path], tmp_path: Path):
    lines: list[str] = []
    result = retrain(
        "healthy_vae",
        two_datasets[1],
        tmp_path,
        budget="1steps",
        progress=False,
        log=lines.append,
        root=zoo,
    )
    assert result.comparison == []
    assert any("not compared" in line for line in lines)


def test_half_precision_is_kept_only_where_the_dev_metrics_hold():
    state = {"w": torch.ones(2, dtype=torch.float32), "n": torch.tensor([3])}
    halved = half(state)
    assert halved["w"].dtype == torch.float16 and halved["n"].dtype == torch.int64
    full = {"loss": 1.0, "loss se": 0.01}
    assert holds({"loss": 1.005, "loss se": 0.01}, full)
    assert not holds({"loss": 1.05, "loss se": 0.01}, full)
    assert not holds({"loss": float("nan"), "loss se": 0.01}, full)


def test_trimmed_curve_keeps_the_last_line(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": i}) + "\n" for i in range(1001)))
    lines = trimmed_curve(path, limit=50).splitlines()
    assert len(lines) <= 50 and json.loads(lines[-1]) == {"step": 1000}
    assert json.loads(lines[0]) == {"step": 0}


def test_every_recipe_has_a_runnable_command():
    for name, recipe in RECIPES.items():
        command = recorded_command(recipe)
        assert command.startswith("medgen "), name
        if recipe.config_file is not None:
            assert recipe.config_file.is_file(), name
            assert "--config train.toml" in command
    latent = get_recipe("latent_diffusion")
    with pytest.raises(SettingError):
        train_argv(latent, "data", "run")  # a latent model needs its VAE's run
    with pytest.raises(SettingError):
        train_argv(get_recipe("registration"), "data", "run")  # it needs its prior's run
    with pytest.raises(SettingError):
        get_recipe("no_such_model")


def test_every_shipped_reference_loads_and_round_trips():
    from medgen.evaluate.features import load_extractor
    from medgen.models.io import build_model

    for reference in shipped():
        p = reference.provenance
        for key in ("command", "data", "commit", "steps", "images", "seconds", "machine", "dev"):
            assert key in p, (reference.name, key)
        family = p["family"]
        assert (reference.folder / "metrics.jsonl").is_file() or family in STEP_FAMILIES
        if family == "features":
            load_extractor(reference.folder)
            continue
        if family == "registration":
            nets = load_nets(reference.folder, int(p["data"]["size"]))
            assert set(nets) == {MEDGEN, PLAIN}
            continue
        model = load_model(reference.folder / "model")
        record = read_record(reference.folder / "model")
        assert build_model(record).config_dict() == model.config_dict() == record["config"]
        run_config = json.loads((reference.folder / "config.json").read_text())
        assert run_config["data"] == "DATA", reference.name
