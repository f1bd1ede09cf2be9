"""Two CPU processes under `accelerate launch` (gloo DDP): one run, identical weights on both
ranks, per-rank random states in the checkpoint, and a resume that matches the straight run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from toy import load_weights, read_jsonl

from medgen.train.loop import leaving_process_group, meet_peers

SCRIPT = Path(__file__).with_name("run_toy.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(out: Path, *args: str) -> tuple[dict[str, Any], set[str]]:
    """Run run_toy.py on 2 CPU processes: the summary and the set of the ranks' weight hashes."""
    hashes = out.with_name(out.name + "-hashes")
    shutil.rmtree(hashes, ignore_errors=True)
    hashes.mkdir()
    # accelerate's own --cpu launcher needs MPI for several processes; --multi_gpu starts them
    # with torchrun, and the trainer's cpu=True makes them join over gloo.
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(SCRIPT),
        str(out),
        "--cpu",
        "--kind",
        "two",
        "--checksum",
        str(hashes),
        *args,
    ]
    hf_home = out.with_name("hf")  # no accelerate config of the user's
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HOME": str(hf_home)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    assert len(list(hashes.iterdir())) == 2
    return summary, {p.read_text() for p in hashes.iterdir()}


@pytest.mark.slow
def test_two_processes_train_one_run_and_resume_exactly(tmp_path: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    summary, hashes = launch(straight, "--budget", "20steps", "--checkpoint-every", "10")
    assert summary["world_size"] == 2 and summary["steps"] == 20
    assert summary["images"] == 20 * 8 * 2 and summary["status"] == "finished"
    assert len(hashes) == 1  # DDP kept both ranks' weights identical
    records = read_jsonl(straight / "metrics.jsonl")
    assert records[-1]["metrics"]["a.loss"] < records[0]["metrics"]["a.loss"]
    model = load_weights(straight / "model" / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in model.values())
    rng = load_weights(straight / "checkpoints" / "step-00000010" / "rng.safetensors")
    assert all(t.shape[0] == 2 for t in rng.values())
    assert not torch.equal(rng["generator"][0], rng["generator"][1])  # a seed per process

    # The run as it stood at step 10, resumed on two processes again.
    shutil.copytree(straight, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-00000020")
    shutil.rmtree(resumed / "model")
    summary, hashes = launch(resumed, "--budget", "20steps", "--checkpoint-every", "10", "--resume")
    assert summary["steps"] == 20 and len(hashes) == 1
    for name in ("model", "optimizer-a", "optimizer-b", "rng"):
        a, b = (
            load_weights(r / "checkpoints/step-00000020" / f"{name}.safetensors")
            for r in (straight, resumed)
        )
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert read_jsonl(resumed / "metrics.jsonl")[-1]["metrics"] == records[-1]["metrics"]


def test_ranks_meet_on_the_store_before_they_leave() -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = torch.distributed.HashStore()
    with ThreadPoolExecutor(3) as pool:  # three ranks; the last one comes late
        early = [pool.submit(meet_peers, store, 3, 30.0) for _ in range(2)]
        time.sleep(0.5)
        assert not any(m.done() for m in early)  # they wait for the third
        late = pool.submit(meet_peers, store, 3, 30.0)
        assert [m.result(timeout=30) for m in (*early, late)] == [True, True, True]


def test_a_rank_whose_peer_never_comes_leaves_after_the_timeout() -> None:
    store = torch.distributed.HashStore()
    assert meet_peers(store, 2, 0.2) is False  # returns, neither hangs nor raises
    assert int(store.get("medgen/leaving/arrived")) == 1


def test_leaving_without_a_process_group_runs_the_body_and_its_errors() -> None:
    with leaving_process_group():
        done = True
    assert done
    with pytest.raises(ValueError, match="kept"), leaving_process_group():
        raise ValueError("kept")
