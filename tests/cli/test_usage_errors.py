"""Usage mistakes across the commands each give one line and exit code 2; Ctrl-C gives exit code
130, in training after the checkpoint that lets the run resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_support import assert_one_line_error, run_cli
from medgen.train import latest_checkpoint

# (arguments, what the one line must name)
MISTAKES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("bogus",), ("No such command 'bogus'",)),
    (("data", "bogus"), ("No such command 'bogus'",)),
    (("--bogus",), ("No such option: --bogus",)),
    (("-x",), ("No such option: -x",)),
    (("train",), ("Missing argument 'family'",)),
    (("train", "diffusion"), ("Missing option '--data'",)),
    (("train", "diffusion", "--data", "d"), ("Missing option '--out'",)),
    (("train", "diffusion", "--data"), ("'--data' requires an argument",)),
    (("train", "vae", "--data", "d", "--out", "o", "--batch-size", "abc"), ("'--batch-size'",)),
    (("train", "vae", "--data", "d", "--out", "o", "--seed", "1.5"), ("'--seed'",)),
    (("train", "vae", "--data", "d", "--out", "o", "--bogus"), ("No such option: --bogus",)),
    (("train", "vae", "--data", "d", "--out", "o", "--resume=yes"), ("'--resume'",)),
    (("train", "vae", "extra", "--data", "d", "--out", "o"), ("unexpected extra argument",)),
    (("sample",), ("Missing argument 'run'",)),
    (("sample", "r", "--n", "abc"), ("'--n'",)),
    (("sample", "r", "--steps", "0"), ("--steps", "at least 1")),
    (("sample", "r", "--steps", "-3"), ("--steps", "at least 1")),
    (("sample", "r", "--guidance", "strong"), ("'--guidance'",)),
    (("data", "make"), ("Missing option '--out'",)),
    (("data", "make", "--out", "o", "--size", "big"), ("'--size'",)),
    (("data", "show"), ("Missing argument",)),
    (("errors", "serve", "--predictions", "p", "--port", "0"), ("'--port'",)),
    (("errors", "tally", "--bogus"), ("No such option: --bogus",)),
    (("detect", "train"), ("Missing option '--data'",)),
    (("lab", "score", "--bogus"), ("No such option: --bogus",)),
    (("compare",), ("Missing argument 'runs'",)),
    (("features",), ("Missing option '--data'",)),
    (("study",), ("Missing option '--out'",)),
    (("denoise",), ("Missing argument 'run'",)),
    (("anomaly",), ("Missing argument 'run'",)),
    (("reconstruct",), ("Missing argument 'run'",)),
]

TINY_VAE = """
[train]
batch_size = 8
log_every = 1
checkpoint_every = 1000

[model]
hidden = [8, 16]
latent_channels = 2
"""


def test_every_usage_mistake_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    failures = []
    for args, needles in MISTAKES:
        result = run_cli(*args, cwd=tmp_path)
        try:
            assert_one_line_error(result, *needles)
            assert result.stdout == "", result.stdout
        except AssertionError as err:
            failures.append(f"medgen {' '.join(args)}: {err}")
    assert not failures, "\n".join(failures)
    assert not any(tmp_path.iterdir())  # no mistake wrote anything


@pytest.mark.parametrize(
    ("args", "commands"),
    [
        ((), ("train", "study")),
        (("data",), ("make", "import")),
        (("errors",), ("tally", "remedy")),
        (("lab",), ("score",)),
        (("detect",), ("predict",)),
    ],
)
def test_a_bare_command_group_prints_its_help(
    args: tuple[str, ...], commands: tuple[str, ...]
) -> None:
    result = run_cli(*args)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "Usage: medgen" in result.stdout and all(c in result.stdout for c in commands)


def start(*args: str | Path) -> subprocess.Popen[str]:
    """`python -m medgen ARGS` in a process of its own, Ctrl-C handled as in a terminal (even when
    the test runner's shell started it with SIGINT ignored)."""
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "medgen", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_until(
    ready: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.02)


def logged_steps(run: Path) -> int:
    try:
        return len((run / "metrics.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 slices of 32 x 32 pixels, made through the command line."""
    out = tmp_path_factory.mktemp("tiny") / "data"
    sizes = ("--size", "32", "--n-train", "32", "--n-dev", "8", "--n-test", "8", "--workers", "1")
    result = run_cli("data", "make", "--out", out, *sizes)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_ctrl_c_in_training_exits_130_after_a_checkpoint_that_resumes(
    tiny_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "vae.toml").write_text(TINY_VAE)
    run = tmp_path / "run"
    train = ("train", "vae", "--data", tiny_data, "--out", run, "--config", tmp_path / "vae.toml")
    proc = start(*train, "--budget", "100000steps")
    wait_until(lambda: logged_steps(run) >= 3, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    summary = json.loads((run / "summary.json").read_text())
    steps = summary["steps"]
    assert summary["status"] == "interrupted" and steps >= 3
    assert f"interrupted after {steps} steps" in stdout and "--resume" in stdout
    newest = latest_checkpoint(run)
    assert newest is not None and newest.name == f"step-{steps:08d}"
    resumed = run_cli(*train, "--resume", "--budget", f"{steps + 2}steps")
    assert resumed.returncode == 0, resumed.stderr
    assert f"finished: {steps + 2} steps" in resumed.stdout


@pytest.mark.slow
def test_ctrl_c_outside_training_exits_130_in_one_line(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    sizes = ("--size", "32", "--n-train", "20000", "--n-dev", "8", "--n-test", "8")
    proc = start("data", "make", "--out", work / "data", *sizes, "--workers", "1")
    wait_until(lambda: any(work.iterdir()), proc)  # it has begun writing
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == ["medgen: interrupted; nothing half-written was kept"], stderr
    assert not any(work.iterdir()), list(work.iterdir())


FAULT = (
    "import sys, medgen.cli as cli\n"
    "def fault(args):\n"
    "    raise RuntimeError('a fault\\nover two lines')\n"
    "cli.run = fault\n"
    "cli.main(['data', 'make', '--out', 'x'])\n"
)


@pytest.mark.parametrize("debug", ["", "0", "1"])
def test_a_fault_inside_medgen_is_one_line_unless_debugging(debug: str) -> None:
    env = {**os.environ, "MEDGEN_DEBUG": debug}
    result = subprocess.run(
        [sys.executable, "-c", FAULT], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 1, result.stderr
    if debug == "1":
        assert "Traceback" in result.stderr and "RuntimeError: a fault" in result.stderr
        return
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines == [
        "medgen: error: internal error, RuntimeError: a fault over two lines "
        "(run again with MEDGEN_DEBUG=1 for the traceback)"
    ]
