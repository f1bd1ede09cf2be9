"""A report with the study's widest tables, laid out by a real headless Chromium: every table
stays inside its chapter, the mode-collapse table without a scroll bar. Skipped where Debian's
chromium / chromium-driver are not installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from browser_support import HAVE_CHROMIUM, chromium
from medgen.lab.mode_collapse import COLUMNS, summarise
from medgen.report.html import Report, Section, table_html
from medgen.report.tables import mode_collapse_shown

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium and chromium-driver"),
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium, 1280 px wide, with a fresh profile."""
    with chromium(tmp_path / "profile") as driver:
        yield driver


def mode_collapse_html() -> str:
    """The mode-collapse table of a one-seed benchmark, as the comparison chapter shows it."""
    rows = [
        [mixture, family, 0, 3, of, 12.5, 0.5, 65282, 4000, 256, 12.3, 40.0]
        for mixture, of in (("ring", 8), ("grid", 25))
        for family in ("diffusion", "diffusion-sde", "gan", "vae")
    ]
    return table_html(mode_collapse_shown(summarise(pd.DataFrame(rows, columns=COLUMNS))))


def test_tables_stay_inside_their_chapter(browser: WebDriver, tmp_path: Path) -> None:
    wide = pd.DataFrame({f"a long column name {i}": [123456.789] for i in range(30)})
    report = Report("medgen study")
    report.add(Section("modes", "Mode collapse", mode_collapse_html()))
    report.add(Section("wide", "A table wider than any page", table_html(wide)))
    browser.get(report.write(tmp_path).as_uri())
    boxes = browser.execute_script(
        "return [...document.querySelectorAll('table')].map(t => ({"
        "right: t.getBoundingClientRect().right,"
        "section: t.closest('section').getBoundingClientRect().right,"
        "scrolls: t.scrollWidth > t.clientWidth}))"
    )
    assert len(boxes) == 2
    assert all(box["right"] <= box["section"] + 0.5 for box in boxes)
    assert [box["scrolls"] for box in boxes] == [False, True]
