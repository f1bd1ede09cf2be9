"""Judging an outcome: the exit code and the one stderr line, and a before/after picture of the
case's folder (every entry's kind, permissions, size and SHA-256), so a half-written output or a
touched input shows as a difference."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from faultcases.core import ERROR_PREFIX, Attempt
from faultcases.launch import Ran

Picture = dict[str, tuple[object, ...]]  # relative path -> what it is and holds
SHOWN = 3  # paths named per kind of difference
QUOTED = 160  # characters of a line quoted in a reason


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def picture(root: Path, skip: str = ".io", *, content: bool = True) -> Picture:
    """Every entry under `root` but `skip` (links not followed; named pipes and sockets never
    opened); files by SHA-256, or with `content` False by size and modification time."""
    found: Picture = {}
    for folder, dirs, files in os.walk(root):
        if folder == str(root) and skip in dirs:
            dirs.remove(skip)
        for name in (*dirs, *files):
            path = Path(folder) / name
            info = os.lstat(path)
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISREG(info.st_mode):
                seal = _digest(path) if content else info.st_mtime_ns
                entry: tuple[object, ...] = ("file", mode, info.st_size, seal)
            elif stat.S_ISLNK(info.st_mode):
                entry = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entry = ("folder", mode)
            else:
                entry = ("special", stat.S_IFMT(info.st_mode), mode)
            found[str(path.relative_to(root))] = entry
    return found


def _under(path: str, tops: tuple[str, ...]) -> bool:
    return any(path == top or path.startswith(f"{top}/") for top in tops)


def _listed(kind: str, paths: list[str]) -> str:
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return f"{kind}: {', '.join(sorted(paths)[:SHOWN])}{more}"


def compare_pictures(before: Picture, after: Picture, attempt: Attempt) -> str | None:
    """What changed in the folder beyond what `attempt` allows (None if nothing)."""
    problems = [f"{p} was not created" for p in attempt.creates if p not in after]
    problems += [f"{p} was not removed" for p in attempt.removes if p in after]
    left = [p for p in after if p not in before and not _under(p, attempt.creates)]
    gone = [p for p in before if p not in after and not _under(p, attempt.removes)]
    changed = [
        p for p in before if p in after and before[p] != after[p] and not _under(p, attempt.creates)
    ]
    for kind, paths in (("left behind", left), ("removed", gone), ("changed", changed)):
        if paths:
            problems.append(_listed(kind, paths))
    return "; ".join(problems) or None


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _quoted(line: str) -> str:
    return line if len(line) <= QUOTED else f"{line[: QUOTED - 3]}..."


def judge_output(attempt: Attempt, ran: Ran) -> str | None:
    """Why the exit code and output are not a clean outcome of `attempt` (None if they are)."""
    lines = _lines(ran.stderr)
    if ran.code is None:
        return f"timed out after {ran.seconds:.0f} s and was killed"
    if "Traceback (most recent call last)" in ran.stderr:
        return f"traceback: {_quoted(lines[-1]) if lines else '?'}"
    if attempt.probe is not None:
        if ran.code != 0:
            return f"probe exited {ran.code}: {_quoted(lines[-1]) if lines else 'no output'}"
        return ran.verdict
    shown = _quoted(lines[0]) if lines else (_quoted(ran.stdout.strip()) or "no output")
    if ran.code != attempt.code:
        return f"exit {ran.code}, expected {attempt.code}: {shown}"
    if attempt.code != 2:
        stray = [line for line in lines if not any(w in line for w in attempt.warns)]
        missing = [w for w in attempt.warns if w not in ran.stderr]
        if stray:
            return f"unexpected stderr: {_quoted(stray[0])}"
        return f"no warning naming {missing[0]!r}" if missing else None
    if len(lines) != 1:
        return f"{len(lines)} stderr lines, expected 1: {shown}"
    if not lines[0].startswith(ERROR_PREFIX):
        return f"the line does not start with {ERROR_PREFIX!r}: {shown}"
    missing = [needle for needle in attempt.needles if needle not in lines[0]]
    if missing:
        return f"the line does not name {missing[0]!r}: {shown}"
    return None


def judge(attempt: Attempt, ran: Ran, before: Picture, after: Picture) -> str | None:
    """Why the outcome is not clean (None if it is): the output first, then the folder."""
    return judge_output(attempt, ran) or compare_pictures(before, after, attempt)
