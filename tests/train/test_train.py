"""The trainer in-process on the toy model: run folder, budgets, phases, EMA, resume, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from toy import ToyImages, load_weights, make_toy, read_jsonl

from medgen.config import to_dict
from medgen.exceptions import InputError
from medgen.train import NonFiniteLoss, TrainConfig, latest_checkpoint, list_checkpoints, train


def config(**changes: Any) -> TrainConfig:
    settings: dict[str, Any] = {
        "batch_size": 8,
        "lr": 3e-3,
        "budget": "30steps",
        "checkpoint_every": 10,
        "keep_checkpoints": 2,
        "log_every": 5,
        "monitor_every": 10,
        "sample_count": 4,
        "ema_decay": 0.9,
    }
    return TrainConfig(**(settings | changes))


def run(out: Path, kind: str = "plain", *, resume: bool = False, **changes: Any) -> dict[str, Any]:
    knobs = {k: changes.pop(k) for k in ("nan_after", "sleep", "hidden") if k in changes}
    model = make_toy(kind, **knobs)
    return train(model, ToyImages(), out, config(**changes), resume=resume, progress=False)


def same_tensors(a: Path, b: Path) -> bool:
    x, y = load_weights(a), load_weights(b)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_loss_falls_and_the_run_folder_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "run"
    model = make_toy()
    settings = config(budget="120steps")
    summary = train(model, ToyImages(), out, settings, progress=False, data="toy-data")
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(5, 121, 5))
    assert records[-1]["metrics"]["loss"] < 0.3 * records[0]["metrics"]["loss"]
    assert records[-1]["images"] == 120 * 8 and records[-1]["lr"] == 3e-3
    assert "sample_std" in records[1]["metrics"]  # model.monitor() at step 10
    assert [p.name for p in list_checkpoints(out)] == ["step-00000110", "step-00000120"]
    assert summary["status"] == "finished" and summary["finished"] is True
    assert summary["steps"] == 120 and summary["images"] == 960 and summary["world_size"] == 1
    assert summary["parameters"] == sum(p.numel() for p in model.parameters())
    assert summary["final_metrics"] == records[-1]["metrics"]
    assert summary["checkpoint"] == "checkpoints/step-00000120"
    assert json.loads((out / "summary.json").read_text()) == summary
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"] == to_dict(settings) and saved["family"] == "toy"
    assert saved["model"] == model.config_dict() and saved["data"] == "toy-data"
    final = out / "checkpoints" / "step-00000120"
    assert same_tensors(final / "model.safetensors", out / "model" / "model.safetensors")
    state = json.loads((final / "state.json").read_text())
    assert state["step"] == 120 and state["epoch"] == 15 and state["batch"] == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-00000120.png"]
    with Image.open(out / "samples" / "step-00000120.png") as grid:
        assert grid.size == (2 + 2 * 10, 2 + 2 * 10)  # 2 x 2 tiles of 8 + 2 gutter pixels


def test_budget_in_images_stops_at_the_first_step_reaching_it(tmp_path: Path) -> None:
    summary = run(tmp_path / "run", budget="100img")
    assert summary["steps"] == 13 and summary["images"] == 104


def test_budget_in_seconds_stops_the_loop(tmp_path: Path) -> None:
    summary = run(tmp_path / "run", budget="0.4s", sleep=0.01)
    assert summary["status"] == "finished"
    assert summary["seconds"] >= 0.4
    assert 1 <= summary["steps"] <= 40  # 10 ms a step at least, however busy the machine


def test_two_phases_each_step_their_own_parameters(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = run(out, "two")
    assert {"a.loss", "a.grad_norm", "a.noisy_mse", "b.loss", "b.grad_norm"} <= set(
        summary["final_metrics"]
    )
    final = latest_checkpoint(out)
    assert final is not None
    a = load_weights(final / "optimizer-a.safetensors")
    b = load_weights(final / "optimizer-b.safetensors")
    assert sorted(a) == [
        f"state.{i}.{n}" for i in (0, 1) for n in ("exp_avg", "exp_avg_sq", "step")
    ]
    assert a["state.0.exp_avg"].shape == (32, 64) and b["state.0.exp_avg"].shape == (64, 32)
    records = read_jsonl(out / "metrics.jsonl")
    assert records[-1]["metrics"]["b.loss"] < records[0]["metrics"]["b.loss"]


def test_ema_is_checkpointed_and_exported(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(out, "ema")
    final = out / "checkpoints" / "step-00000030"
    assert same_tensors(final / "ema.safetensors", out / "model" / "model.safetensors")
    assert not same_tensors(final / "model.safetensors", out / "model" / "model.safetensors")


@pytest.mark.parametrize("kind", ["plain", "two", "ema"])
def test_resume_continues_bit_identically(tmp_path: Path, kind: str) -> None:
    run(tmp_path / "straight", kind, budget="20steps")
    run(tmp_path / "parts", kind, budget="10steps")  # the budget may change on resume
    summary = run(tmp_path / "parts", kind, budget="20steps", resume=True)
    assert summary["steps"] == 20
    for name in ("model", "optimizer-a" if kind == "two" else "optimizer-main", "rng"):
        file = f"checkpoints/step-00000020/{name}.safetensors"
        assert same_tensors(tmp_path / "straight" / file, tmp_path / "parts" / file), name
    lines = [read_jsonl(tmp_path / r / "metrics.jsonl") for r in ("straight", "parts")]
    assert [(r["step"], r["metrics"]) for r in lines[0]] == [
        (r["step"], r["metrics"]) for r in lines[1]
    ]


def test_resume_of_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = run(out)
    again = run(out, resume=True)
    assert again["steps"] == first["steps"] and again["status"] == "finished"
    assert again["final_metrics"] == first["final_metrics"]
    assert len(read_jsonl(out / "metrics.jsonl")) == 6


def test_resume_with_nothing_saved_starts_afresh(tmp_path: Path) -> None:
    assert run(tmp_path / "new", resume=True)["steps"] == 30


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLoss) as err:
        run(out, nan_after=14)
    message = str(err.value)
    assert "non-finite loss at step 14" in message and "step-00000010" in message
    assert "\n" not in message
    assert [p.name for p in list_checkpoints(out)] == ["step-00000010"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "stopped: non-finite loss at step 14"
    assert summary["finished"] is False and summary["steps"] == 13
    assert not (out / "model").exists()


def test_a_fresh_run_refuses_a_folder_holding_a_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(out, budget="5steps")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(InputError, match="already holds a run; pass --resume"):
        run(out, budget="5steps")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


@pytest.mark.parametrize(
    ("changes", "key"), [({"lr": 1e-3}, "train.lr"), ({"hidden": 16}, "model.hidden")]
)
def test_resume_refuses_a_changed_config(tmp_path: Path, changes: dict[str, Any], key: str) -> None:
    out = tmp_path / "run"
    run(out, budget="10steps")
    with pytest.raises(InputError, match=f"cannot resume: {key} was") as err:
        run(out, budget="20steps", resume=True, **changes)
    assert "step-00000010" in err.value.what


def test_a_batch_larger_than_the_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="more than the 64 training images"):
        run(tmp_path / "run", batch_size=65)
