"""What a study chapter receives (`StudyContext`) and returns (`ChapterResult`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgen.report.html import FigureRef
from medgen.study.profiles import Profile

Advance = Callable[[int, int], None]  # advance(done, total)
ProgressFactory = Callable[[str], AbstractContextManager[Advance]]


@contextlib.contextmanager
def no_progress(description: str) -> Iterator[Advance]:
    """A progress factory that shows nothing."""
    yield lambda done, total: None


@dataclass(frozen=True)
class StudyContext:
    """A chapter's view of the study: where to write, the profile, earlier results, and hooks."""

    name: str  # the chapter's key in the registry
    out: Path  # the study folder
    workdir: Path  # the chapter's temporary folder; renamed to out/chapters/<name> on success
    profile: Profile
    data: Path | None = None  # a dataset given with --data, or None to build out/data
    upstream: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # outputs, by chapter
    workers: int = 0  # processes for parallel work (0: all cores)
    log: Callable[[str], None] = print
    progress: ProgressFactory = no_progress

    @property
    def budget_s(self) -> float:
        """This chapter's time budget in seconds."""
        return self.profile.budget_for(self.name)

    def figure(self, filename: str) -> tuple[Path, str]:
        """Where to save figure `filename`, and the path to give `FigureRef` (chapter-relative)."""
        relative = f"figures/{filename}"
        path = self.workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, relative


@dataclass(frozen=True)
class ChapterResult:
    """A finished chapter: its title, HTML body, figures, and JSON-able outputs for later ones."""

    title: str
    body: str  # HTML fragment (tables, prose); figures are appended after it
    figures: list[FigureRef] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # e.g. the dataset's folder and hash
    summary: str = ""  # one line for the console


Chapter = Callable[[StudyContext], ChapterResult]
