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


def test_table_html_prints_whole_numbers_without_exponents() -> None:
    table = pd.DataFrame(
        {"slices": [5000.0, 12.0], "accuracy": [0.5, 1 / 3], "big": [12345.6, 0.25]},
        index=["a", "b"],
    )
    text = table_html(table)
    assert "5,000" in text and "<td>12</td>" in text and "12,346" in text
    assert "0.333" in text and "e+" not in text


def test_table_html_shows_infinity_and_missing_values_as_symbols() -> None:
    table = pd.DataFrame({"kl": [float("inf"), float("nan")], "nfe": [None, 40]}, index=["a", "b"])
    text = table_html(table)
    assert "∞" in text and "inf" not in text and "nan" not in text.lower() and "None" not in text


def test_table_html_hides_row_numbers_and_spaces_snake_case() -> None:
    table = pd.DataFrame({"high_quality": [0.5], "modes": [3]})
    text = table_html(table)
    assert "high quality" in text and "high_quality" not in text
    assert "<th>0</th>" not in text and "<tbody>\n    <tr>\n      <td>" in text
    named = table_html(table.rename_axis("tumour_type"))
    assert "<th>tumour type</th>" in named and "<th>0</th>" in named
    assert table.columns.tolist() == ["high_quality", "modes"]  # the caller's table unchanged


def test_fragment_rebases_the_bodys_relative_links_only() -> None:
    body = (
        '<a href="score/numbers.json">n</a> <a href="runs/vae">vae</a> <a href="#lab">lab</a> '
        '<a href="https://example.org/x">x</a> <a href="/abs/y">y</a> <img src="a.png">'
    )
    fragment = render_fragment(body, [], "chapters/lab/")
    assert 'href="chapters/lab/score/numbers.json"' in fragment
    assert 'href="chapters/lab/runs/vae"' in fragment and 'src="chapters/lab/a.png"' in fragment
    assert 'href="#lab"' in fragment and 'href="https://example.org/x"' in fragment
    assert 'href="/abs/y"' in fragment
    assert render_fragment(body, [], ".").startswith(body)  # a report in the chapter's folder
