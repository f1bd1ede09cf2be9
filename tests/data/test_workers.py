"""`medgen data make`'s worker processes die with the process that started them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent with two workers, one busy and one idle, that prints their ids and waits.
PARENT = """
import multiprocessing as mp, sys, time
from medgen.data.synth import workers
if sys.argv[1] == "watchdog":  # as where prctl is missing
    workers.parent_death_signal = lambda signum: False
pool = workers.worker_pool(2)
pool.submit(time.sleep, 120)
while len(mp.active_children()) < 2:
    time.sleep(0.05)
print(*(child.pid for child in mp.active_children()), flush=True)
time.sleep(120)
"""


def running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_workers_die_with_parent(argv: list[str]) -> None:
    """Start the parent script `argv`, read its two workers' ids, SIGKILL it, and check that the
    workers end within 10 s."""
    parent = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(map(running, workers))
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(map(running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(running, workers)), "workers outlived their killed parent"
    finally:
        parent.kill()
        parent.wait()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("how", ["prctl", "watchdog"])
def test_workers_exit_when_their_parent_is_killed(how: str) -> None:
    assert_workers_die_with_parent([sys.executable, "-c", PARENT, how])


# The remedy's detector trainer: its spawned workers die with it too.
REMEDY_PARENT = """
import multiprocessing as mp, time
from medgen.errors.remedy.detectors import DetectorTrainer
trainer = DetectorTrainer("unused", jobs=2).__enter__()
for _ in range(2):
    trainer.pool.submit(time.sleep, 120)
while len(mp.active_children()) < 2:
    time.sleep(0.05)
print(*(child.pid for child in mp.active_children()), flush=True)
time.sleep(120)
"""


def test_the_remedys_detector_workers_exit_when_their_parent_is_killed() -> None:
    assert_workers_die_with_parent([sys.executable, "-c", REMEDY_PARENT])
