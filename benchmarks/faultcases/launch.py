"""Running the real entry point in a process of its own: `medgen ARGV` as a subprocess ("exec"),
or `medgen.cli.main(ARGV)` in a child forked from a server that has imported medgen and torch
once ("fork"), which is the same function the console script calls at a fraction of the start-up
time. Library probes always run in a forked child. Either way the child gets its own session, so
a timeout kills it with everything it started."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import NamedTuple

MODES = ("fork", "exec")
PRELOAD = [  # imported once by the fork server, so each child starts warm
    "faultcases.launch",
    "torch",
    "medgen.cli",
    "faultcases.warm",
    "medgen.data.synth",
    "medgen.data.importers",
    "medgen.train.generate",
    "medgen.train.recipe",
    "medgen.tasks.commands",
    "medgen.detect.pipeline",
    "medgen.errors",
]


# multiprocessing reads a forked child's exit code off a pipe once; two threads reading it at
# once (one in Process.start(), which polls every child) leave the other with 255. So every
# start and poll holds this lock.
_POLLING = threading.Lock()


class Ran(NamedTuple):
    """What a child did: exit code (None if killed on timeout), output, seconds, a probe's word."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float
    verdict: str | None  # a probe's reason for failing (None: clean, or not a probe)


def medgen_executable() -> list[str]:
    """The console script beside this interpreter, else `python -m medgen`."""
    script = Path(sys.executable).with_name("medgen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "medgen"]


def _redirect(io_dir: Path) -> None:
    """Point fds 1 and 2 (and sys.stdout/sys.stderr) at files in `io_dir`."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(io_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115


def _child(
    argv: list[str] | None,
    probe: Callable[[], str | None] | None,
    cwd: str,
    io_dir: str,
) -> None:
    """The forked child: its own session, output to files, then main(argv) or the probe."""
    os.setsid()
    _redirect(Path(io_dir))
    os.chdir(cwd)
    if probe is not None:
        verdict = probe()
        (Path(io_dir) / "verdict.json").write_text(json.dumps({"verdict": verdict}))
        return
    from medgen.cli import main

    sys.argv = ["medgen", *(argv or [])]
    main(list(argv or []))


def _forkserver() -> mp.context.ForkServerContext:
    """The fork server context; the server finds this package through PYTHONPATH (it is not
    handed the parent's sys.path)."""
    here = str(Path(__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *paths])
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _collect(code: int | None, io_dir: Path, started: float) -> Ran:
    verdict = None
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        verdict = json.loads((io_dir / "verdict.json").read_text())["verdict"]
    seconds = time.perf_counter() - started
    return Ran(code, _read(io_dir / "stdout"), _read(io_dir / "stderr"), seconds, verdict)


def run_forked(
    argv: list[str] | None,
    probe: Callable[[], str | None] | None,
    cwd: Path,
    io_dir: Path,
    *,
    timeout: float,
) -> Ran:
    """main(argv), or `probe()`, in a child of the fork server."""
    io_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    child = _forkserver().Process(target=_child, args=(argv, probe, str(cwd), str(io_dir)))
    with _POLLING:  # start() polls every live child: never while another thread polls one
        child.start()
    finished = wait([child.sentinel], timeout)
    if not finished:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid or 0, signal.SIGKILL)
        wait([child.sentinel])
    with _POLLING:
        child.join()
        code = child.exitcode
    return _collect(code if finished else None, io_dir, started)


def run_exec(argv: list[str], cwd: Path, io_dir: Path, *, timeout: float) -> Ran:
    """`medgen ARGV` as a subprocess of its own session."""
    io_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(io_dir / "stdout", "wb") as out, open(io_dir / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [*medgen_executable(), *argv],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return _collect(code, io_dir, started)


def launch(
    argv: list[str] | None,
    probe: Callable[[], str | None] | None,
    cwd: Path,
    io_dir: Path,
    *,
    mode: str,
    timeout: float,
) -> Ran:
    """Run a command line (in `mode`) or a probe (always forked)."""
    if argv is not None and probe is None and mode == "exec":
        return run_exec(argv, cwd, io_dir, timeout=timeout)
    return run_forked(argv, probe, cwd, io_dir, timeout=timeout)
