"""The remedy experiment: detectors per arm and seed, what it writes, the command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from cli_support import assert_one_line_error, run_cli
from medgen.data.store import open_dataset
from medgen.detect import DetectorConfig, detector_config
from medgen.errors.remedy.arms import ARMS
from medgen.errors.remedy.detectors import DetectorTrainer, found_share, seeded
from medgen.errors.remedy.experiment import (
    SHOWN,
    chosen_arms,
    measured_sets,
    possible_arms,
    recovered,
    remedy_experiment,
)
from medgen.errors.remedy.plan import RemedyPlan
from medgen.exceptions import InputError, SettingError

CEREBELLUM = {"location": "cerebellum"}


def _quiet(_: str) -> None:
    pass


def test_the_recovered_share_of_the_real_arms_gain() -> None:
    table = pd.DataFrame(
        {
            "arm": ["baseline", "real", "diffusion", "augment"],
            "set": "test",
            "scope": "slice",
            "error": [0.8, 0.4, 0.6, 0.7],
        }
    )
    assert recovered(table) == pytest.approx({"real": 1.0, "diffusion": 0.5, "augment": 0.25})
    assert recovered(table.assign(error=[0.4, 0.5, 0.6, 0.7])) == {}  # no gain to share
    assert recovered(table[table.arm != "real"]) == {}


def test_seeded_moves_every_parts_seed() -> None:
    config = DetectorConfig(seed=3)
    assert seeded(config, 0) == config
    moved = seeded(config, 2)
    expected = (5, config.extract.seed + 2, config.classify.seed + 2)
    assert (moved.seed, moved.extract.seed, moved.classify.seed) == expected
    made = detector_config(7, seed=4)
    assert (made.seed, made.extract.seed, made.extract.steps) == (4, 4, 7)


def test_arms_are_chosen_by_name_in_the_registrys_order(builtin_dataset: Path) -> None:
    assert list(chosen_arms(["augment", "baseline"])) == ["baseline", "augment"]
    with pytest.raises(SettingError, match="'prayer'") as caught:
        chosen_arms(["baseline", "prayer"])
    assert caught.value.setting == "arms"
    with pytest.raises(SettingError, match="none"):
        chosen_arms([])
    store = open_dataset(builtin_dataset)
    every = list(ARMS)
    assert possible_arms(store, RemedyPlan(CEREBELLUM), every) == every
    without = possible_arms(store, RemedyPlan({"location": "none"}), every)
    assert without == ["baseline", "real", "diffusion", "gan"]  # nothing to move or augment


def test_every_arm_trains_one_detector_per_seed_and_keeps_what_it_added(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    store = open_dataset(builtin_dataset)
    sets = {"test": store.split("test").index.to_numpy()[:40]}
    plan = RemedyPlan(CEREBELLUM, 3, seed=0, detector_seeds=2)
    out = tmp_path / "remedy"
    arms = chosen_arms(["baseline", "augment"])
    table = remedy_experiment(
        builtin_dataset,
        out,
        plan,
        sets,
        detector_config(2, classify_steps=20),
        arms=arms,
        log=_quiet,
    ).table
    per_seed = pd.read_csv(out / "remedy_seeds.csv")
    assert len(per_seed) == 2 * 2 * 2 and set(per_seed["seed"]) == {0, 1}  # arms x seeds x scopes
    mean = per_seed.groupby(["arm", "scope"])["error"].mean()
    for row in table.itertuples():
        assert row.seeds == 2 and row.error == pytest.approx(mean[(row.arm, row.scope)])
    for arm in ("baseline", "augment"):  # each seed's detector kept, trained with its own seed
        folders = (out / arm, out / f"{arm}-seed1")
        seeds = [json.loads((f / "detector.json").read_text())["config"]["seed"] for f in folders]
        assert seeds == [0, 1]
    record = json.loads((out / "remedy.json").read_text())
    assert RemedyPlan(**record["plan"]) == plan and record["measured"] == {"test": 40}
    assert len(record["rows_per_seed"]) == 8
    found = pd.read_csv(out / "found.csv")  # one row per arm, its detectors' mean
    assert list(found["arm"]) == ["baseline", "augment"] and record["found"][0]["arm"] == "baseline"
    assert np.isnan(found["found_added"][0]) and 0 <= found["found_added"][1] <= 1
    assert list(found.columns) == ["arm", "found_added", "found_test"]
    assert sorted(p.name for p in (out / "added").iterdir()) == ["augment.npz"]  # none: baseline
    with np.load(out / "added" / "augment.npz", allow_pickle=False) as added:
        assert added["images"].shape == added["masks"].shape == (3, 64, 64)
        own = store.split("train").query("label == 1 and location == 'cerebellum'").index
        assert set(added["sources"]) <= set(own)
        assert list(added["kinds"]) == list(store.meta.loc[added["sources"], "tumour_type"])


def test_detectors_trained_at_once_come_out_as_when_trained_in_turn(
    builtin_dataset: Path, tmp_path: Path
) -> None:
    store = open_dataset(builtin_dataset)
    sets = {"test": store.split("test").index.to_numpy()[:40]}
    plan = RemedyPlan(CEREBELLUM, 3, seed=0, detector_seeds=2)
    arms = chosen_arms(["baseline", "augment"])
    for jobs in (1, 2):
        remedy_experiment(
            builtin_dataset,
            tmp_path / f"jobs{jobs}",
            plan,
            sets,
            detector_config(3, classify_steps=20),
            arms=arms,
            jobs=jobs,
            log=_quiet,
        )
    in_turn, at_once = (pd.read_csv(tmp_path / f"jobs{j}" / "remedy_seeds.csv") for j in (1, 2))
    pd.testing.assert_frame_equal(in_turn, at_once)
    for run in ("baseline", "baseline-seed1", "augment", "augment-seed1"):
        weights = [
            (tmp_path / f"jobs{j}" / run / "segmentation.safetensors").read_bytes() for j in (1, 2)
        ]
        assert weights[0] == weights[1], run


def test_a_detector_that_fails_in_a_worker_fails_the_experiment(tmp_path: Path) -> None:
    missing = tmp_path / "no-data"
    with pytest.raises(InputError, match="no-data"), DetectorTrainer(missing, jobs=2) as trainer:
        trainer.submit(tmp_path / "run", DetectorConfig(), None)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="jobs"):
        DetectorTrainer(missing, jobs=0)


def test_a_detector_trained_in_turn_uses_the_trainers_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medgen.errors.remedy import detectors

    seen: list[int] = []
    monkeypatch.setattr(
        detectors, "train_detector", lambda *_, **__: seen.append(torch.get_num_threads())
    )
    before = torch.get_num_threads()
    with DetectorTrainer(tmp_path, jobs=1, threads=1) as trainer:
        trainer.submit(tmp_path / "run", DetectorConfig(), None)
    with DetectorTrainer(tmp_path, jobs=1) as trainer:  # None: this process's count
        trainer.submit(tmp_path / "run", DetectorConfig(), None)
    assert seen == [1, before]
    assert torch.get_num_threads() == before  # restored after the detector
    with pytest.raises(ValueError, match="threads"):
        DetectorTrainer(tmp_path, jobs=2, threads=0)


class RegionsAbove:
    """A stand-in detector whose extracted region is every pixel brighter than `level`."""

    def __init__(self, level: float) -> None:
        self.level = level

    def regions(self, images: np.ndarray) -> np.ndarray:
        return images > self.level


def test_found_share_counts_tumours_whose_region_touches_the_mask() -> None:
    images = np.zeros((5, 8, 8), np.float32)
    masks = np.zeros((5, 8, 8), bool)
    masks[:4, 2:4, 2:4] = True  # four tumours and a healthy slice
    images[0, 3, 3] = 1.0  # found: one pixel of the region on the tumour
    images[1, 6, 6] = 1.0  # a region, beside the tumour
    images[2, 2:4, 2:4] = 0.4  # too faint for the detector
    images[3, 2:5, 2:5] = 0.9  # found
    images[4, 0, 0] = 1.0  # the healthy slice's region counts for nothing
    assert found_share(RegionsAbove(0.5), images, masks) == pytest.approx(2 / 4)
    assert found_share(RegionsAbove(0.3), images, masks) == pytest.approx(3 / 4)
    assert np.isnan(found_share(RegionsAbove(0.5), images[4:], masks[4:]))


def test_measured_sets_are_test_and_dev_without_a_project(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    sets = measured_sets(store)
    assert list(sets) == ["test", "dev"]
    assert np.array_equal(sets["dev"], store.split("dev").index.to_numpy())


def test_remedy_command_end_to_end(
    joint_runs: dict[str, Path], builtin_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "remedy"
    result = run_cli(
        "errors",
        "remedy",
        "--data",
        builtin_dataset,
        "--out",
        out,
        "--n",
        "4",
        "--steps",
        "3",
        "--classify-steps",
        "20",
        "--diffusion",
        joint_runs["diffusion"],
        "--gan",
        joint_runs["gan"],
        "--jobs",
        "2",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "remedy.csv")
    arms = ["baseline", "real", "diffusion", "inpaint", "gan", "augment"]
    assert list(table["arm"].unique()) == arms
    assert len(table) == 6 * 2 * 2 and set(table["set"]) == {"test", "dev"}
    assert (table.loc[table.arm != "baseline", "added"] == 4).all()
    record = json.loads((out / "remedy.json").read_text())
    assert record["plan"]["slice"] == {"location": "brainstem"} and record["plan"]["n"] == 4
    for arm in ("baseline", "real", "augment"):
        assert (out / arm / "detector.json").is_file()
    added = pd.read_csv(out / "added.csv")  # every arm's added data beside the real slice's
    names = ["the slice's training tumours"] + [f"{arm} arm" for arm in arms[1:]]
    assert list(added["examples"]) == names
    assert (added["n"].iloc[1:] == 4).all() and len(record["added"]) == 6
    assert added.loc[3, "with_mask"] == 1.0  # every drawn tumour has its mask
    assert added["told_apart"].isna().all()  # 4 tumours per arm: too few to tell apart
    assert "told_apart" in record["added"][1]
    with Image.open(out / "added.png") as picture:  # a row per set of examples, SHOWN of each
        assert picture.size == (SHOWN * 256, 6 * 256)
    assert added.loc[1, "with_mask"] == 1.0  # the oracle's slices all hold a tumour
    assert len(list((out / "added").glob("*.npz"))) == 5
    intervals = record["recovered_interval"]  # every arm's share of the real gain, per set
    assert set(intervals) == {"test", "dev"} and set(intervals["test"]) == set(arms[1:])


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--slice", "location=liver", "liver"),
        ("--arms", "baseline,prayer", "prayer"),
        ("--n", "0", "greater than or equal to 1"),
        ("--oversample", "0", "greater than or equal to 1"),
        ("--detector-seeds", "0", "greater than or equal to 1"),
        ("--jobs", "0", "greater than or equal to 1"),
        ("--balance", "2", "less than or equal to 1"),
        ("--guidance", "-1", "greater than or equal to 0"),
        ("--train-budget", "3parsecs", "3parsecs"),
    ],
)
def test_remedy_command_refuses_bad_values_in_one_line(
    builtin_dataset: Path, tmp_path: Path, option: str, value: str, said: str
) -> None:
    bad = run_cli(
        "errors", "remedy", "--data", builtin_dataset, "--out", tmp_path / "x", option, value
    )
    assert_one_line_error(bad, option, said)
    assert not (tmp_path / "x").exists()


def test_remedy_help_shows_the_plans_defaults() -> None:
    result = run_cli("errors", "remedy", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    plan = RemedyPlan()
    assert f"[default: {plan.n}" in text and "[default: location=brainstem]" in text
    assert "[default: every arm]" in text and "Example: medgen errors remedy" in text
