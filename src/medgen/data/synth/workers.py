"""Worker processes that never outlive the process that started them.

A pool's idle workers wait on a pipe whose writing end they hold themselves (fork copies it), so
when the parent is killed (SIGKILL, the OOM killer) nothing wakes them and they would wait, or
go on rendering, forever. Each worker asks the kernel to SIGKILL it when its parent dies (Linux:
prctl(PR_SET_PDEATHSIG)); elsewhere a daemon thread watches os.getppid().
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>: the signal a process gets when its parent dies
WATCH_SECONDS = 1.0  # how often the watchdog thread looks for a new parent


def parent_death_signal(signum: int) -> bool:
    """Ask Linux to send `signum` to this process when its parent dies; False where it cannot.

    The kernel watches the parent's thread that forked this process: here the one that submits
    a pool's first task, which outlives the pool.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent: int) -> None:
    """End this process as soon as process `parent` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when `parent`, the process that started it, dies."""
    if not parent_death_signal(signal.SIGKILL):
        threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool of `workers` that die with this process."""
    # fork shares the loaded template with the workers; elsewhere each worker loads it once.
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context(method),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
