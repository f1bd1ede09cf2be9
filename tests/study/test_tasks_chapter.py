"""The tasks chapter on the tiny profile: its targets come as a table of gains with their 95%
intervals, and one sentence per claim read from that table."""

from __future__ import annotations

import re

import pytest

from medgen.data.synth import DataConfig, make_dataset
from medgen.report.html import MISSING
from medgen.study.chapters import tasks_chapter
from medgen.study.context import ChapterResult, StudyContext
from medgen.study.profiles import PROFILES

CLAIMS = 5  # denoising at noise 0.10, anomaly Dice and pixel AUPRC, reconstruction at 4x and 8x
WORDS = ("met", "not shown", "not met")
TINY = PROFILES["tiny"]


def _targets(html: str) -> list[dict[str, str]]:
    """The rows of the Targets table, as column -> shown text."""
    table = html[html.index("<h3>Targets") :]
    table = table[: table.index("</table>")]
    head, body = table.split("</thead>")
    columns = re.findall(r"<th>([^<]*)</th>", head)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [dict(zip(columns, re.findall(r"<td>([^<]*)</td>", r), strict=True)) for r in rows]


@pytest.fixture(scope="module")
def chapter(tmp_path_factory: pytest.TempPathFactory) -> ChapterResult:
    """The tasks chapter of the tiny profile on the tiny profile's data."""
    root = tmp_path_factory.mktemp("tasks_chapter")
    make_dataset(root / "data", DataConfig(**TINY.data), workers=1)
    (root / "work").mkdir()
    ctx = StudyContext(
        name="tasks",
        out=root,
        workdir=root / "work",
        profile=TINY,
        upstream={"data": {"dataset": "data"}},
        workers=1,
        log=lambda message: None,
    )
    return tasks_chapter(ctx)


def test_the_targets_table_gives_each_gain_its_interval(chapter: ChapterResult) -> None:
    rows = _targets(chapter.body)
    assert len(rows) == CLAIMS
    for row in rows:
        assert row["verdict"] in WORDS
        if row["95% low"] != MISSING:  # two slices or more: an interval, around its estimate
            low, gain, high = (float(row[k]) for k in ("95% low", "gain", "95% high"))
            assert low <= gain <= high


def test_each_claim_has_one_sentence_that_agrees_with_its_row(chapter: ChapterResult) -> None:
    html = chapter.body
    verdicts = [row["verdict"] for row in _targets(html)]
    sentences = re.findall(
        r"<li>((?:Denoising|Anomaly detection|Reconstruction), [^<]*)</li>", html
    )
    assert len(sentences) == CLAIMS
    for sentence, verdict in zip(sentences, verdicts, strict=True):
        assert f": {verdict}," in sentence or (
            verdict == "not shown" and "not measured" in sentence
        )
    assert re.fullmatch(
        r"targets: denoise (met|not shown|not met), anomaly (met|not shown|not met), "
        r"reconstruct (met|not shown|not met)",
        chapter.summary,
    ), chapter.summary
