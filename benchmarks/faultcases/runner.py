"""Running cases: each case's setup in its own folder (one after another, as they share lazily
built fixtures), then its attempt (several at once with `jobs`), then the verdict."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from faultcases.core import Attempt, CannotBuild, Case
from faultcases.fixtures import Fixtures
from faultcases.inputs import make_mutable
from faultcases.judge import Picture, compare_pictures, judge, picture
from faultcases.launch import launch


class Verdict(NamedTuple):
    """One case's outcome: clean or not, why not, how long its attempt took, and whether it
    was skipped (this machine cannot build what it needs)."""

    case: Case
    clean: bool
    reason: str
    seconds: float
    skipped: bool = False


class Prepared(NamedTuple):
    """A case set up and ready to run: its folders, attempt and the folder's picture."""

    case: Case
    work: Path
    io_dir: Path
    attempt: Attempt
    before: Picture
    shared: Picture  # the shared fixtures, which no case may change


class Corpus:
    """Cases run under `root`: fixtures in ROOT/fixtures, case AREA/NAME in ROOT/AREA/NAME."""

    def __init__(self, root: Path, mode: str = "fork") -> None:
        self.root = root
        self.mode = mode
        self.fixtures = Fixtures(root / "fixtures", mode)

    def prepare(self, case: Case) -> Prepared | Verdict:
        """Run the case's setup: its Prepared attempt, or a failed Verdict saying why not."""
        work = self.root / case.area / case.name / "work"
        work.mkdir(parents=True)
        try:
            attempt = case.setup(work, self.fixtures)
        except CannotBuild as err:
            return Verdict(case, False, f"skipped: {err}", 0.0, skipped=True)
        except Exception as err:  # a broken setup or fixture fails this case, not the run
            where = traceback.extract_tb(err.__traceback__)[-1]
            reason = f"setup failed: {type(err).__name__}: {err} ({where.name}:{where.lineno})"
            return Verdict(case, False, reason, 0.0)
        shared = picture(self.fixtures.root, content=False)
        return Prepared(case, work, work.parent / "io", attempt, picture(work), shared)

    def execute(self, ready: Prepared) -> Verdict:
        """Run a prepared attempt and judge it."""
        a = ready.attempt
        argv = None if a.probe is not None else list(a.argv)
        ran = launch(
            argv,
            a.probe,
            ready.work,
            ready.io_dir,
            mode=self.mode,
            timeout=a.timeout,
        )
        reason = judge(a, ran, ready.before, picture(ready.work))
        now = picture(self.fixtures.root, content=False)
        touched = compare_pictures(ready.shared, now, Attempt())
        if reason is None and touched is not None:
            reason = f"a shared fixture changed: {touched}"
        return Verdict(ready.case, reason is None, reason or "", ran.seconds)

    def run(self, case: Case) -> Verdict:
        """Set up and run one case."""
        ready = self.prepare(case)
        return ready if isinstance(ready, Verdict) else self.execute(ready)

    def run_all(self, cases: Iterable[Case], jobs: int = 1) -> Iterator[Verdict]:
        """Every case's verdict, as each finishes (setups first, in order)."""
        prepared = [self.prepare(case) for case in cases]
        yield from (v for v in prepared if isinstance(v, Verdict))
        shared = picture(self.fixtures.root, content=False)  # once every fixture is built
        ready = [p._replace(shared=shared) for p in prepared if isinstance(p, Prepared)]
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            yield from pool.map(self.execute, ready)


def make_root(keep: Path | None = None) -> Path:
    """A fresh folder for a run: `keep` (which must not exist yet), else a temporary one."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=False)
        return keep
    return Path(tempfile.mkdtemp(prefix="medgen-faults-"))


def remove_root(root: Path) -> None:
    """Remove a run's folder, read-only folders included (made writable on the way down)."""
    make_mutable(root)
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(stat.S_IRWXU)
    shutil.rmtree(root, ignore_errors=True)
