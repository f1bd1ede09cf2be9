"""The HTML report: chapters in order, escaped titles, figures linked relative to the report."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from medgen.report.html import FigureRef, Report, Section, render_fragment, table_html


def test_fragment_links_figures_relative_to_base() -> None:
    fragment = render_fragment("<p>hi</p>", [FigureRef("figures/a.png", "A & B")], "chapters/x/")
    assert fragment.startswith("<p>hi</p>")
    assert 'src="chapters/x/figures/a.png"' in fragment
    assert "A &amp; B" in fragment


def test_report_lists_each_chapter_and_writes_atomically(tmp_path: Path) -> None:
    (tmp_path / "chapters" / "one" / "figures").mkdir(parents=True)
    (tmp_path / "chapters" / "one" / "figures" / "f.png").write_bytes(b"png")
    one = render_fragment("<p>first</p>", [FigureRef("figures/f.png", "f")], "chapters/one")
    report = Report("medgen study", "profile tiny")
    report.add(Section("one", "The <first> chapter", one, "1.0 s of 5 s"))
    report.add(Section("two", "Second", "<p>second</p>", "9 s of 5 s — over budget", warn=True))
    path = report.write(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "report.html"
    assert "The &lt;first&gt; chapter" in text and "2. Second" in text
    assert text.index("<p>first</p>") < text.index("<p>second</p>")
    assert 'class="note warn"' in text
    for src in re.findall(r'src="([^"]+)"', text):
        assert (tmp_path / src).is_file()
    assert not list(tmp_path.glob(".*tmp*"))


def test_table_html_formats_numbers() -> None:
    text = table_html(pd.DataFrame({"x": [0.123456, float("nan")]}, index=["a", "b"]))
    assert "0.123" in text and "0.123456" not in text and "–" in text
