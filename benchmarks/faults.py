"""medgen's fault corpus: usage mistakes, bad config values, hostile filesystems, corrupt inputs,
numeric edge cases and the web app's guards, each driven through the real entry point and judged
clean or failed (`faultcases/core.py` says what clean means).

    python benchmarks/faults.py                      # every case, one at a time
    python benchmarks/faults.py --fast --jobs 2      # the cases that train no model, two at once
    python benchmarks/faults.py --area corrupt --exec --keep /tmp/corpus

`--exec` runs each command line as `.venv/bin/medgen ...`, a subprocess of its own (slower);
the default forks each case from a server that has imported medgen once and calls the same
`medgen.cli.main`. Prints tried / clean / failed per area and every failed case with its
reason; exits 1 if any case failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from faultcases import AREAS, all_cases
from faultcases.runner import Corpus, Verdict, make_root, remove_root


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", action="append", choices=AREAS, help="Only this area (repeat).")
    parser.add_argument("--fast", action="store_true", help="Only cases that train no model.")
    parser.add_argument("--ci", action="store_true", help="Only the subset tests/faults runs.")
    parser.add_argument("--case", action="append", help="Only cases whose AREA/NAME holds this.")
    parser.add_argument("--jobs", type=int, default=1, help="Cases run at once.  [default: 1]")
    parser.add_argument("--exec", action="store_true", help="Run `medgen` as a subprocess.")
    parser.add_argument("--keep", type=Path, help="Work in this new folder and keep it.")
    parser.add_argument("--list", action="store_true", help="List the cases and exit.")
    return parser.parse_args(argv)


def table(verdicts: Sequence[Verdict]) -> str:
    """Tried / clean / failed per area, and the total."""
    tried = Counter(v.case.area for v in verdicts if not v.skipped)
    clean = Counter(v.case.area for v in verdicts if v.clean)
    skipped = Counter(v.case.area for v in verdicts if v.skipped)
    rows = [(a, tried[a], clean[a], skipped[a]) for a in AREAS if tried[a] or skipped[a]]
    rows.append(("total", sum(tried.values()), sum(clean.values()), sum(skipped.values())))
    extra = any(row[3] for row in rows)
    lines = [f"{'area':<12}{'tried':>7}{'clean':>7}{'failed':>8}" + ("  skipped" if extra else "")]
    for area, n, ok, skip in rows:
        lines.append(f"{area:<12}{n:>7}{ok:>7}{n - ok:>8}" + (f"{skip:>9}" if extra else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [
        case
        for case in all_cases()
        if (not args.area or case.area in args.area)
        and (not args.fast or case.fast)
        and (not args.ci or case.ci)
        and (not args.case or any(text in case.key for text in args.case))
    ]
    if args.list:
        for case in cases:
            print(f"{case.key}{'' if case.fast else '  (slow)'}")
        return 0
    root = make_root(args.keep)
    corpus = Corpus(root, "exec" if args.exec else "fork")
    started = time.perf_counter()
    verdicts = []
    try:
        for verdict in corpus.run_all(cases, args.jobs):
            verdicts.append(verdict)
            mark = "clean " if verdict.clean else "skip  " if verdict.skipped else "FAILED"
            print(f"{mark} {verdict.case.key} ({verdict.seconds:.1f} s)", flush=True)
    finally:
        if args.keep is None:
            remove_root(root)
    print(f"\n{table(verdicts)}\n")
    failed = [v for v in verdicts if not v.clean and not v.skipped]
    for verdict in failed:
        print(f"failed {verdict.case.key}: {verdict.reason}")
    for verdict in verdicts:
        if verdict.skipped:
            print(f"{verdict.reason.replace('skipped: ', 'skipped ' + verdict.case.key + ': ')}")
    mode = "medgen subprocesses" if args.exec else "forked medgen.cli.main"
    print(f"{len(verdicts)} cases in {time.perf_counter() - started:.0f} s ({mode})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
