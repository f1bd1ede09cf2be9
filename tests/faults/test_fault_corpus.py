"""The fault corpus's CI subset through the real entry point, one test per case: each fault is
refused cleanly (one line, exit code 2, nothing half-written, nothing else touched; see
benchmarks/faultcases/core.py). `python benchmarks/faults.py` runs every case."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from faultcases import all_cases
from faultcases.core import Case
from faultcases.runner import Corpus, make_root, remove_root

CI = [case for case in all_cases() if case.ci]


@pytest.fixture(scope="module")
def corpus() -> Iterator[Corpus]:
    """One corpus folder (its fixtures built once) for every case here."""
    root = make_root()
    try:
        yield Corpus(root)
    finally:
        remove_root(root)


def test_the_ci_subset_covers_every_area_and_trains_nothing() -> None:
    assert {case.area for case in CI} == {case.area for case in all_cases()}
    assert all(case.fast for case in CI)


@pytest.mark.parametrize("case", CI, ids=lambda case: case.key)
def test_the_fault_is_refused_cleanly(case: Case, corpus: Corpus) -> None:
    verdict = corpus.run(case)
    if verdict.skipped:
        pytest.skip(verdict.reason)
    assert verdict.clean, verdict.reason
