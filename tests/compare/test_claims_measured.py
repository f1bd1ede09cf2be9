"""The metrics the comparison's sentences read are those the degradation suite measured to work.

`medgen.evaluate.sanity.CLAIMS` says what each metric must see; `benchmarks/metric_sanity.py`
measures it and saves its pass/fail grid in benchmarks/results/metric_sanity.txt; the comparison
chapter (`medgen.compare.summary`) writes sentences from some of the metrics. These three are kept
in step here: a claim added or dropped without rerunning the suite, a failed cell, or a sentence
that reads an unmeasured metric fails a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medgen.compare.summary import RANKED
from medgen.evaluate.sanity import CLAIMS

SAVED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "metric_sanity.txt"
DAMAGES = (
    "blur",
    "noise",
    "blobs",
    "brain blobs",
    "drop type",
    "drop location",
    "drop brainstem",
    "collapse",
    "copy",
    "no lesions",
)
# the summary's own metric names, as the suite names them; recall_claim and sharpness_claim read
# recall and sharpness besides the ranking sentences
READ_BY_SENTENCES = {"fd": "FD", "recall": "recall", "coverage": "coverage"}
ALSO_READ = ("recall", "sharpness")
SHOWN_NOT_READ = ("precision", "density")


def saved_grid(text: str) -> dict[str, dict[str, str]]:
    """The pass/fail grid of a saved run: metric -> damage -> 'pass', 'FAIL' or '-'."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("pass/fail"))
    header = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("blur"))
    grid: dict[str, dict[str, str]] = {}
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        words = line.split()
        name, cells = words[: -len(DAMAGES)], words[-len(DAMAGES) :]
        grid[" ".join(name)] = dict(zip(DAMAGES, cells, strict=True))
    return grid


@pytest.fixture(scope="module")
def grid() -> dict[str, dict[str, str]]:
    return saved_grid(SAVED.read_text())


def test_the_saved_grid_was_measured_with_todays_claims(grid: dict[str, dict[str, str]]) -> None:
    """Every claimed cell is in the saved grid and passed; every other cell claims nothing."""
    assert set(CLAIMS) <= set(grid)
    for metric, row in grid.items():
        claimed = CLAIMS.get(metric, {})
        assert set(claimed) <= set(DAMAGES), metric
        for damage, verdict in row.items():
            expected = "pass" if damage in claimed else "-"
            assert verdict == expected, f"{metric} under {damage}: saved {verdict}"


def test_every_metric_a_sentence_reads_has_passing_claims(grid: dict[str, dict[str, str]]) -> None:
    ranked = {READ_BY_SENTENCES[name] for name, _, _ in RANKED}
    for metric in ranked | set(ALSO_READ):
        assert CLAIMS.get(metric), f"a sentence reads {metric}, which claims nothing"
        assert all(grid[metric][d] == "pass" for d in CLAIMS[metric]), metric
    for metric in SHOWN_NOT_READ:
        assert metric not in ranked | set(ALSO_READ)


def test_the_parser_reads_a_failed_cell() -> None:
    """A grid with a FAIL is read as such, so the first test would catch it."""
    text = SAVED.read_text().replace(
        "FD                  pass  pass", "FD                  FAIL  pass", 1
    )
    assert saved_grid(text)["FD"]["blur"] == "FAIL"
    assert saved_grid(SAVED.read_text())["FD"]["blur"] == "pass"
