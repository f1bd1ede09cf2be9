"""The study runner: chapters in order, resumed when done, re-run when interrupted or stale."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Set
from dataclasses import replace
from pathlib import Path

import pytest

from medgen.exceptions import InputError, SettingError
from medgen.report.html import FigureRef
from medgen.study.context import Chapter, ChapterResult, StudyContext
from medgen.study.profiles import Profile
from medgen.study.runner import DONE, fingerprint, run_study

PROFILE = Profile(
    name="test",
    description="fake chapters",
    target="any machine",
    budget_s=10.0,
    chapter_budget_s={"first": 5.0, "second": 5.0},
)


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C in the middle of a chapter."""


def fake_chapters(calls: Counter[str], fail_once: Set[str] = frozenset()) -> dict[str, Chapter]:
    """Two chapters counting their calls; those in `fail_once` raise midway in their first call."""

    def first(ctx: StudyContext) -> ChapterResult:
        calls["first"] += 1
        path, ref = ctx.figure("one.png")
        path.write_bytes(b"fake png")
        if "first" in fail_once and calls["first"] == 1:
            raise Interrupted
        return ChapterResult("First chapter", "<p>one</p>", [FigureRef(ref, "one")], {"n": 1})

    def second(ctx: StudyContext) -> ChapterResult:
        calls["second"] += 1
        assert ctx.upstream["first"] == {"n": 1}
        if "second" in fail_once and calls["second"] == 1:
            raise Interrupted
        return ChapterResult("Second chapter", "<p>two</p>", outputs={"m": 2})

    return {"first": first, "second": second}


def test_runs_every_chapter_and_writes_the_report(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    lines: list[str] = []
    result = run_study(tmp_path, PROFILE, chapters=fake_chapters(calls), log=lines.append)
    assert calls == {"first": 1, "second": 1}
    assert [run.name for run in result.chapters] == ["first", "second"]
    assert not any(run.reused for run in result.chapters)
    assert lines[0].startswith("[1/2] first:") and lines[-1].startswith("[2/2] second:")
    text = result.report.read_text(encoding="utf-8")
    assert "First chapter" in text and "Second chapter" in text
    sources = re.findall(r'src="([^"]+)"', text)
    assert sources == ["chapters/first/figures/one.png"]
    assert all((tmp_path / src).is_file() for src in sources)
    done = json.loads((tmp_path / "chapters" / "first" / DONE).read_text())
    assert done["budget_s"] == 5.0 and done["over_budget"] is False


def test_finished_chapters_are_not_run_again(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    run_study(tmp_path, PROFILE, chapters=fake_chapters(calls), log=lambda _: None)
    again = run_study(tmp_path, PROFILE, chapters=fake_chapters(calls), log=lambda _: None)
    assert calls == {"first": 1, "second": 1}
    assert all(run.reused for run in again.chapters)
    assert "Second chapter" in again.report.read_text(encoding="utf-8")


def test_an_interrupted_chapter_leaves_nothing_and_is_rerun(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    chapters = fake_chapters(calls, fail_once={"second"})
    with pytest.raises(Interrupted):
        run_study(tmp_path, PROFILE, chapters=chapters, log=lambda _: None)
    assert (tmp_path / "chapters" / "first" / DONE).is_file()
    assert not (tmp_path / "chapters" / "second").exists()
    assert [p.name for p in (tmp_path / "chapters").iterdir()] == ["first"]
    assert not (tmp_path / "report.html").exists()
    result = run_study(tmp_path, PROFILE, chapters=chapters, log=lambda _: None)
    assert calls == {"first": 1, "second": 2}
    assert [run.reused for run in result.chapters] == [True, False]


def test_a_chapter_interrupted_after_writing_figures_keeps_no_files(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    with pytest.raises(Interrupted):
        run_study(tmp_path, PROFILE, chapters=fake_chapters(calls, {"first"}), log=print)
    assert list((tmp_path / "chapters").iterdir()) == []
    run_study(tmp_path, PROFILE, chapters=fake_chapters(calls, {"first"}), log=print)
    assert (tmp_path / "chapters" / "first" / "figures" / "one.png").is_file()


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    leftover = tmp_path / "chapters" / ".first.tmp-99999"
    leftover.mkdir(parents=True)
    run_study(tmp_path, PROFILE, chapters=fake_chapters(Counter()), log=lambda _: None)
    assert not leftover.exists()


def test_the_temporary_folder_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    """Another study process writing the same chapter keeps its folder (here: our parent's)."""
    live = tmp_path / "chapters" / f".first.tmp-{os.getppid()}"
    live.mkdir(parents=True)
    run_study(tmp_path, PROFILE, chapters=fake_chapters(Counter()), log=lambda _: None)
    assert live.is_dir()


def test_force_reruns_only_that_chapter(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    run_study(tmp_path, PROFILE, chapters=fake_chapters(calls), log=lambda _: None)
    run_study(tmp_path, PROFILE, chapters=fake_chapters(calls), force=["first"], log=print)
    assert calls == {"first": 2, "second": 1}  # same outputs upstream: second is still valid


def test_unknown_force_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(SettingError) as info:
        run_study(tmp_path, PROFILE, chapters=fake_chapters(Counter()), force=["nope"])
    assert info.value.setting == "force"


def test_another_profile_reruns_the_chapters(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()
    run_study(tmp_path, PROFILE, chapters=fake_chapters(calls), log=lambda _: None)
    other = replace(PROFILE, data={"size": 32})
    run_study(tmp_path, other, chapters=fake_chapters(calls), log=lambda _: None)
    assert calls == {"first": 2, "second": 2}


def test_fingerprint_depends_on_upstream_outputs() -> None:
    a = fingerprint("second", PROFILE, None, {"first": {"n": 1}})
    assert a == fingerprint("second", PROFILE, None, {"first": {"n": 1}})
    assert a != fingerprint("second", PROFILE, None, {"first": {"n": 2}})
    assert a != fingerprint("second", PROFILE, "hash", {"first": {"n": 1}})
    reworded = replace(PROFILE, name="other", description="new words")
    assert a == fingerprint("second", reworded, None, {"first": {"n": 1}})


def test_over_budget_is_recorded_and_shown(tmp_path: Path) -> None:
    stingy = replace(PROFILE, chapter_budget_s={"first": 0.0, "second": 5.0})
    result = run_study(tmp_path, stingy, chapters=fake_chapters(Counter()), log=lambda _: None)
    assert json.loads((tmp_path / "chapters" / "first" / DONE).read_text())["over_budget"]
    assert "over budget" in result.report.read_text(encoding="utf-8")


def test_a_file_as_study_folder_is_input_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError):
        run_study(tmp_path / "f", PROFILE, chapters=fake_chapters(Counter()))
