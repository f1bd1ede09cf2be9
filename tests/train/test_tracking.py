"""Experiment trackers as an extra sink: TensorBoard's events mirror metrics.jsonl and the sample
grids, a resumed run continues the same events at the right step, and a tracker never changes
the weights a run ends with."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from toy import ToyImages, make_toy, read_jsonl, run_tensors

from medgen.exceptions import SettingError
from medgen.train import TrainConfig, list_checkpoints, train
from medgen.train.tracking import PROJECT, TRACKER_DIR, check_trackers, hyperparameters

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

SETTINGS: dict[str, Any] = {
    "batch_size": 8,
    "lr": 3e-3,
    "budget": "8steps",
    "checkpoint_every": 4,
    "keep_checkpoints": 3,
    "log_every": 2,
    "monitor_every": 4,
    "sample_every": 4,
    "sample_count": 4,
}


def run(out: Path, *, log_with: tuple[str, ...] = (), resume: bool = False) -> dict[str, Any]:
    model = make_toy("ema", dropout=0.1)
    config = TrainConfig(**SETTINGS)
    return train(model, ToyImages(), out, config, resume=resume, progress=False, log_with=log_with)


def events(out: Path) -> event_accumulator.EventAccumulator:
    """Every event TensorBoard shows for the run (orphaned events purged, as TensorBoard does)."""
    folder = out / TRACKER_DIR / PROJECT
    sizes = {event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0}
    return event_accumulator.EventAccumulator(str(folder), size_guidance=sizes).Reload()


def assert_mirrors_metrics(out: Path) -> None:
    """Every metrics.jsonl value at its step, once, and each sample grid as an image."""
    acc, records = events(out), read_jsonl(out / "metrics.jsonl")
    tags = acc.Tags()
    for name in records[0]["metrics"]:
        logged = acc.Scalars(f"metrics/{name}")
        kept = [r for r in records if name in r["metrics"]]
        assert [e.step for e in logged] == [r["step"] for r in kept], name
        assert [e.value for e in logged] == pytest.approx([r["metrics"][name] for r in kept])
    for key in ("lr", "images_per_second"):
        logged = acc.Scalars(key)
        assert [e.step for e in logged] == [r["step"] for r in records], key
        assert [e.value for e in logged] == pytest.approx([r[key] for r in records], rel=1e-6)
    grids = sorted(int(p.stem.removeprefix("step-")) for p in (out / "samples").glob("*.png"))
    assert [e.step for e in acc.Images(tags["images"][0])] == grids
    assert acc.Images(tags["images"][0])[-1].width > 0


def test_tensorboard_mirrors_the_metrics_and_the_weights_do_not_change(tmp_path: Path) -> None:
    run(tmp_path / "plain")
    summary = run(tmp_path / "tracked", log_with=("tensorboard",))
    assert summary["status"] == "finished"
    assert_mirrors_metrics(tmp_path / "tracked")
    assert read_jsonl(tmp_path / "tracked" / "metrics.jsonl")[0]["metrics"].keys() >= {
        "loss",
        "noisy_mse",
    }
    plain, tracked = run_tensors(tmp_path / "plain"), run_tensors(tmp_path / "tracked")
    assert plain.keys() == tracked.keys() and len(plain) > 10
    assert all(torch.equal(plain[k], tracked[k]) for k in plain)
    assert not (tmp_path / "plain" / TRACKER_DIR).exists()


def test_a_resumed_run_continues_the_same_events(tmp_path: Path) -> None:
    """A process killed after step 8 but whose newest checkpoint is step 4: the events it logged
    past step 4 are hidden, and the resumed process logs steps 6 and 8 once more."""
    out = tmp_path / "run"
    run(out, log_with=("tensorboard",))
    newest = list_checkpoints(out)[-1]
    shutil.rmtree(newest)  # as if the process had died before writing it
    summary = run(out, log_with=("tensorboard",), resume=True)
    assert summary["status"] == "finished" and summary["steps"] == 8
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [2, 4, 6, 8]
    assert len(list((out / TRACKER_DIR / PROJECT).glob("events.out.tfevents.*"))) == 2
    assert_mirrors_metrics(out)


def test_a_missing_or_unknown_tracker_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr(
        "importlib.util.find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(SettingError, match="needs the 'wandb' package, which is not installed"):
        run(tmp_path / "w", log_with=("wandb",))
    with pytest.raises(SettingError, match="unknown tracker 'neptune'"):
        check_trackers(["neptune"])
    assert check_trackers(["tensorboard", "tensorboard"]) == ("tensorboard",)
    assert not (tmp_path / "w").exists()


def test_hyperparameters_are_flat_scalars() -> None:
    flat = hyperparameters({"train": {"betas": [0.9, 0.99], "lr": 1e-3}, "data": None})
    assert flat == {"train/betas": "[0.9, 0.99]", "train/lr": 1e-3, "data": None}
