"""Running the real command line in tests: `python -m medgen ...` in a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m medgen ARGS` and capture its output (wide terminal, so lines don't wrap)."""
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "medgen", *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False
    )


def run_in_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`medgen ARGS` in this process (the model imports are paid once): exit code and output.
    A fault inside medgen raises with its traceback (MEDGEN_DEBUG=1), so a failing test shows it."""
    from medgen.cli import DEBUG_VARIABLE, main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    before = os.environ.get(DEBUG_VARIABLE)
    os.environ[DEBUG_VARIABLE] = "1"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            if before is None:
                del os.environ[DEBUG_VARIABLE]
            else:
                os.environ[DEBUG_VARIABLE] = before
    return subprocess.CompletedProcess(list(map(str, args)), code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 2, one non-empty stderr line naming `needles`, no traceback; returns the line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("medgen: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
