"""Imported by the fork server only: parses a few command lines once, so the lazy imports a
first parse makes (typer's adapters, pydantic) are done before any case is forked."""

from __future__ import annotations

import contextlib
import io

from medgen.cli import run

for argv in (["--help"], ["train", "--help"], ["data", "make", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(BaseException):
        run(argv)
