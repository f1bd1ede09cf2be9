"""Run the study: each chapter in order, resumed when already done, then write the report.

    DIR/data/                    the dataset (unless --data names one)
    DIR/chapters/<name>/         one folder per finished chapter: done.json, fragment.html, figures/
    DIR/chapters/.<name>.tmp-*   a chapter being written; renamed to <name>/ only once complete
    DIR/report.html              every finished chapter, in order

A chapter is reused when its done.json carries the same fingerprint: a hash of the chapter's
name, the medgen version, the profile (less its name and wording), the --data dataset's content
hash and the outputs of the chapters before it. An interrupted chapter leaves no folder behind,
so it simply runs again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from medgen import __version__
from medgen.data.store import open_dataset
from medgen.exceptions import InputError, SettingError
from medgen.fileio import atomic_directory, make_folder, remove_stale
from medgen.report.html import Report, Section, render_fragment
from medgen.study.chapters import CHAPTERS
from medgen.study.context import Chapter, ProgressFactory, StudyContext, no_progress
from medgen.study.profiles import Profile
from medgen.validate import worker_count

DONE = "done.json"
FRAGMENT = "fragment.html"
CHAPTERS_DIR = "chapters"
COSMETIC = ("name", "description")  # profile fields that do not change any result


class ChapterRun(NamedTuple):
    """How one chapter went: reused or run, time taken against its budget, where it lives."""

    name: str
    title: str
    reused: bool
    elapsed_s: float
    budget_s: float
    folder: Path


class StudyResult(NamedTuple):
    """The report's path and how each chapter went."""

    report: Path
    chapters: list[ChapterRun]


def fingerprint(name: str, profile: Profile, data_hash: str | None, upstream: Any) -> str:
    """SHA-256 of what a chapter's result depends on (see the module's docstring)."""
    payload = {
        "chapter": name,
        "medgen": __version__,
        "profile": {k: v for k, v in dataclasses.asdict(profile).items() if k not in COSMETIC},
        "data": data_hash,
        "upstream": upstream,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def read_done(folder: Path) -> dict[str, Any] | None:
    """The chapter's done.json, or None if it is missing or unreadable."""
    try:
        done = json.loads((folder / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) else None


def remove_leftovers(chapters_dir: Path, name: str) -> None:
    """Delete the temporary folders a killed run of chapter `name` left behind, never those of
    a study still running in another process (`remove_stale`)."""
    if chapters_dir.is_dir():
        remove_stale(chapters_dir / name)


def run_chapter(chapter: Chapter, ctx: StudyContext, fp: str) -> dict[str, Any]:
    """Run `chapter` in a temporary folder, add fragment.html and done.json, rename it in place."""
    folder = ctx.workdir
    remove_leftovers(folder.parent, ctx.name)
    start = time.perf_counter()
    with atomic_directory(folder, overwrite=True) as tmp:
        result = chapter(dataclasses.replace(ctx, workdir=tmp))
        missing = [f.path for f in result.figures if not (tmp / f.path).is_file()]
        if missing:
            raise RuntimeError(f"chapter {ctx.name!r} lists figures it did not write: {missing}")
        elapsed = time.perf_counter() - start
        base = f"{CHAPTERS_DIR}/{ctx.name}"
        fragment = render_fragment(result.body, result.figures, base)
        (tmp / FRAGMENT).write_text(fragment, encoding="utf-8")
        done = {
            "chapter": ctx.name,
            "title": result.title,
            "summary": result.summary,
            "fingerprint": fp,
            "profile": ctx.profile.name,
            "elapsed_s": round(elapsed, 3),
            "budget_s": ctx.budget_s,
            "over_budget": elapsed > ctx.budget_s,
            "figures": [dataclasses.asdict(f) for f in result.figures],
            "outputs": result.outputs,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / DONE).write_text(json.dumps(done, indent=2, sort_keys=True) + "\n", "utf-8")
    return done


def section(done: Mapping[str, Any], folder: Path, reused: bool) -> Section:
    """The report section of a finished chapter, with a line on its time against its budget."""
    note = (
        f"{done['elapsed_s']:.1f} s of a {done['budget_s']:.0f} s budget "
        f"({done['profile']} profile)" + ("; reused from an earlier run" if reused else "")
    )
    if done["over_budget"]:
        note += " — over budget"
    fragment = (folder / FRAGMENT).read_text(encoding="utf-8")
    return Section(done["chapter"], done["title"], fragment, note, bool(done["over_budget"]))


def check_force(force: Iterable[str], chapters: Mapping[str, Chapter]) -> set[str]:
    """The chapter names to run again (SettingError naming "force" if one is unknown)."""
    names = set(force)
    unknown = sorted(names - set(chapters))
    if unknown:
        known = ", ".join(chapters)
        raise SettingError("force", f"unknown chapter {unknown[0]!r} (chapters: {known})")
    return names


def prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    """`log` with every message starting with `prefix: `."""
    return lambda message: log(f"{prefix}: {message}")


def run_study(
    out: str | Path,
    profile: Profile,
    *,
    data: str | Path | None = None,
    force: Iterable[str] = (),
    chapters: Mapping[str, Chapter] | None = None,
    workers: int = 0,
    log: Callable[[str], None] = print,
    progress: ProgressFactory = no_progress,
) -> StudyResult:
    """Run (or resume) every chapter in order into `out`, then write `out/report.html`."""
    chapters = CHAPTERS if chapters is None else chapters
    forced = check_force(force, chapters)
    worker_count("workers", workers)  # every setting checked before the folder is made
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file, not a study folder")
    data = Path(data) if data is not None else None
    data_hash = open_dataset(data).manifest.get("content_hash") if data is not None else None
    chapters_dir = make_folder(out / CHAPTERS_DIR)
    upstream: dict[str, Any] = {}
    runs, sections = [], []
    for i, (name, chapter) in enumerate(chapters.items(), start=1):
        prefix = f"[{i}/{len(chapters)}] {name}"
        folder = chapters_dir / name
        fp = fingerprint(name, profile, data_hash, upstream)
        done = read_done(folder)
        reused = done is not None and done.get("fingerprint") == fp and name not in forced
        if reused:
            assert done is not None
            log(f"{prefix}: done earlier in {done['elapsed_s']:.1f} s; reusing it")
        else:
            log(f"{prefix}: running (budget {profile.budget_for(name):.0f} s)")
            ctx = StudyContext(
                name=name,
                out=out,
                workdir=folder,
                profile=profile,
                data=data,
                upstream=dict(upstream),
                workers=workers,
                log=prefixed(log, prefix),
                progress=progress,
            )
            done = run_chapter(chapter, ctx, fp)
            over = " — over budget!" if done["over_budget"] else ""
            log(f"{prefix}: {done['summary'] or 'done'} in {done['elapsed_s']:.1f} s{over}")
        upstream[name] = done["outputs"]
        sections.append(section(done, folder, reused))
        runs.append(
            ChapterRun(name, done["title"], reused, done["elapsed_s"], done["budget_s"], folder)
        )
    total = sum(run.elapsed_s for run in runs)
    subtitle = (
        f"profile {profile.name} ({profile.description}); the chapters took {total:.0f} s "
        f"of its {profile.budget_s:.0f} s budget on {profile.target}"
    )
    return StudyResult(Report("medgen study", subtitle, sections).write(out), runs)
