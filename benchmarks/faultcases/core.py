"""What a fault case is: the area it belongs to, how it builds its inputs, what it runs and
what a clean refusal of it looks like."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AREAS = ("usage", "config", "filesystem", "corrupt", "numeric", "web")
ERROR_PREFIX = "medgen: error: "
# Command-line pieces that keep a command that should have been refused small.
SMALL_DATA = ("--size", "32", "--n-train", "8", "--n-dev", "4", "--n-test", "4", "--workers", "1")
SAMPLE = ("--n", "1", "--steps", "1")


@dataclass(frozen=True)
class Attempt:
    """One run of the real entry point and the outcome that counts as clean.

    A command-line attempt gives `argv` (medgen's arguments, run in the case's folder). A library
    attempt gives `probe`, a picklable callable run in a process of its own that returns None
    when the library refused the fault cleanly, else the reason it did not.

    Clean means: exit code `code`; for code 2 exactly one stderr line, "medgen: error: ...",
    holding every string in `needles` (the file or value and what is wrong) and no traceback;
    for code 0 an empty stderr unless `warns` lists what its lines must hold. And the case's
    folder afterwards is what it was, except that each path in `creates` now exists (with
    anything inside it) and each path in `removes` is gone.
    """

    argv: tuple[str, ...] = ()
    probe: Callable[[], str | None] | None = None
    needles: tuple[str, ...] = ()
    code: int = 2
    warns: tuple[str, ...] = ()
    creates: tuple[str, ...] = ()
    removes: tuple[str, ...] = ()
    timeout: float = 120.0


Setup = Callable[[Path, Any], Attempt]  # (the case's own folder, the shared Fixtures) -> Attempt


@dataclass(frozen=True)
class Case:
    """A named fault: `setup` builds what it needs in its own folder and says what to run.

    A case is fast unless it needs a model trained for it (a detector, a run with checkpoints);
    the CI subset is a few fast cases of every area, those that guard a fixed bug among them.
    """

    area: str
    name: str
    setup: Setup
    fast: bool = True
    ci: bool = False  # in the subset tests/faults runs (about a minute in all)

    @property
    def key(self) -> str:
        """`area/name`, unique over the corpus."""
        return f"{self.area}/{self.name}"


class CannotBuild(Exception):
    """This machine cannot build what a case needs (e.g. a read-only folder): it is skipped."""


def cli(*argv: object, needles: tuple[str, ...] = (), **expect: Any) -> Attempt:
    """A command-line attempt: `medgen ARGV`, refused with one line holding `needles`."""
    return Attempt(argv=tuple(str(a) for a in argv), needles=needles, **expect)


def probe(function: Callable[..., str | None], *args: Any, **expect: Any) -> Attempt:
    """A library attempt: `function(*args)` in a process of its own (None: refused cleanly)."""
    return Attempt(probe=functools.partial(function, *args), **expect)


def write(path: Path, text: str | bytes) -> Path:
    """Write `text` (or bytes) to `path`, making its folder; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def copy_tree(source: Path, dest: Path) -> Path:
    """A private copy of a shared fixture folder that a case may damage; return `dest`."""
    shutil.copytree(source, dest, symlinks=True)
    return dest
