"""The study's chapters, in report order. Later chapters add themselves here."""

from __future__ import annotations

from medgen.study.chapters.compare import compare_chapter
from medgen.study.chapters.data import data_chapter
from medgen.study.chapters.errors import errors_chapter
from medgen.study.chapters.lab import lab_chapter
from medgen.study.chapters.models import models_chapter
from medgen.study.chapters.tasks import tasks_chapter
from medgen.study.chapters.uses import uses_chapter
from medgen.study.context import Chapter

CHAPTERS: dict[str, Chapter] = {
    "data": data_chapter,
    "lab": lab_chapter,
    "models": models_chapter,
    "compare": compare_chapter,
    "tasks": tasks_chapter,
    "uses": uses_chapter,
    "errors": errors_chapter,
}
