"""Exact resume: a process killed with SIGKILL at random points, or stopped with Ctrl-C, then
resumed, ends with the same bits as a run never stopped (weights, EMA, optimizer, RNG, metrics,
samples). The stopped runs are real processes; the reference and the resumes run in-process."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from run_toy import run_toy
from toy import load_weights, read_jsonl

from medgen.train import latest_checkpoint

SCRIPT = Path(__file__).with_name("run_toy.py")
STEPS = 40  # run_toy's default budget; it checkpoints every 5 steps and keeps 2
FINAL = f"checkpoints/step-{STEPS:08d}"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """As many threads as the subprocesses (OMP_NUM_THREADS=1), so float sums match."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def start(out: Path) -> subprocess.Popen[str]:
    """run_toy.py on `out` in a process of its own, resuming if `out` holds a run, 20 ms/step."""
    command = [sys.executable, str(SCRIPT), str(out), "--sleep", "0.02"]
    if out.exists():
        command.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def last_step(out: Path) -> int:
    """The newest step in metrics.jsonl (0 if none), tolerating a half-written line."""
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [0]
    for line in lines:
        try:
            steps.append(json.loads(line)["step"])
        except (json.JSONDecodeError, KeyError):
            continue
    return max(steps)


def wait_for_step(out: Path, proc: subprocess.Popen[str], step: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while last_step(out) < step:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"no step {step} in {out}"
        time.sleep(0.005)


def assert_same_run(reference: Path, out: Path) -> None:
    for name in ("model", "ema", "optimizer-main", "rng"):
        a = load_weights(reference / FINAL / f"{name}.safetensors")
        b = load_weights(out / FINAL / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    a, b = (load_weights(r / "model" / "model.safetensors") for r in (reference, out))
    assert all(torch.equal(a[k], b[k]) for k in a)

    def content(run: Path) -> list[tuple[Any, ...]]:
        records = read_jsonl(run / "metrics.jsonl")
        return [(r["step"], r["images"], r["lr"], r["metrics"]) for r in records]

    assert content(out) == content(reference)
    grid = f"samples/step-{STEPS:08d}.png"
    assert (out / grid).read_bytes() == (reference / grid).read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    summary = run_toy(out)
    assert summary["status"] == "finished" and summary["steps"] == STEPS
    return out


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_is_bit_identical(
    reference: Path, tmp_path: Path
) -> None:
    chance = random.Random(20240611)
    for trial, kills in enumerate((1, 1, 2)):
        out = tmp_path / f"trial-{trial}"
        for _ in range(kills):
            proc = start(out)
            wait_for_step(out, proc, min(last_step(out) + chance.randint(1, 15), STEPS - 4))
            time.sleep(chance.uniform(0.0, 0.05))  # anywhere in a step or a checkpoint write
            proc.kill()
            proc.communicate()
        summary = run_toy(out, resume=True)
        assert summary["status"] == "finished" and summary["steps"] == STEPS
        assert_same_run(reference, out)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_identically(
    reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = start(out)
    wait_for_step(out, proc, 12)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout.splitlines()[-1])
    assert summary["status"] == "interrupted" and summary["finished"] is False
    assert 12 <= summary["steps"] < STEPS
    assert json.loads((out / "summary.json").read_text()) == summary
    newest = latest_checkpoint(out)
    assert newest is not None and newest.name == f"step-{summary['steps']:08d}"
    assert not (out / "model").exists()
    assert run_toy(out, resume=True)["steps"] == STEPS
    assert_same_run(reference, out)
