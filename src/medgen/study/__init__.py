"""`medgen study`, the main job: chapters run in order, each resumable, into one HTML report."""

from __future__ import annotations

from medgen.study.context import ChapterResult, StudyContext
from medgen.study.profiles import PROFILES, Profile, get_profile
from medgen.study.runner import StudyResult, run_study

__all__ = [
    "PROFILES",
    "ChapterResult",
    "Profile",
    "StudyContext",
    "StudyResult",
    "get_profile",
    "run_study",
]
