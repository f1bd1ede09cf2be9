"""The HTML report: chapters (title, HTML fragment, figures) assembled into one `report.html`.

A chapter writes its body's links and its figures relative to its own folder; `render_fragment`
rebases them onto the report's folder, so the report opens from disk in any browser with no
server and no network.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from medgen import __version__
from medgen.fileio import write_text_atomic

MISSING = "–"  # a table cell with no value
LINK = re.compile(r'\b(href|src)="([^"]*)"')
ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#)")  # a scheme, a root or an anchor
TEMPLATES = Path(__file__).with_name("templates")
ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class FigureRef:
    """A figure file of a chapter (path relative to the chapter's folder) and its caption."""

    path: str
    caption: str


@dataclass(frozen=True)
class Section:
    """One chapter of the report: its anchor, title, a line about how it ran, and its HTML."""

    key: str
    title: str
    fragment: str
    note: str = ""
    warn: bool = False  # show the note as a warning (e.g. over its time budget)


def render_template(name: str, **context: Any) -> str:
    """Render the template `name` from medgen/report/templates with `context` (HTML-escaped)."""
    return ENV.get_template(name).render(**context)


def cell(value: Any, float_format: str = "{:.3g}") -> Any:
    """A table value as the report shows it: whole numbers as integers with thousands
    separators, other numbers by `float_format` (rounded to an integer where that would print an
    exponent such as 5e+03), NaN and None as MISSING, infinities as ∞; text unchanged."""
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    x = float(value)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x.is_integer():
        return f"{int(x):,}"
    text = float_format.format(x)
    return f"{x:,.0f}" if "e+" in text else text


def header(label: Any) -> Any:
    """A column or index name as a reader sees it: snake_case words spaced."""
    return label.replace("_", " ") if isinstance(label, str) else label


def table_html(table: pd.DataFrame, *, float_format: str = "{:.3g}") -> str:
    """A pandas table as an HTML fragment: every value through `cell`, headers through `header`,
    the index shown unless it is pandas' unnamed row numbering."""
    numbered = isinstance(table.index, pd.RangeIndex) and table.index.name is None
    shown = table.map(lambda value: cell(value, float_format))
    shown = shown.rename(columns=header).rename_axis(index=[header(n) for n in table.index.names])
    if not numbered and shown.index.nlevels == 1 and shown.columns.nlevels == 1:
        # The index's name heads its column on the one header row, not on a row of its own.
        shown = shown.rename_axis(columns=shown.index.name).rename_axis(index=None)
    return shown.to_html(classes="table", border=0, index=not numbered, na_rep=MISSING, escape=True)


def rebase_links(body: str, base: str) -> str:
    """`body` with each relative href and src prefixed by the folder `base`."""
    base = base.rstrip("/")
    if base in ("", "."):
        return body

    def rebased(match: re.Match[str]) -> str:
        attribute, target = match.groups()
        if not target or ABSOLUTE.match(target):
            return match.group(0)
        return f'{attribute}="{base}/{target}"'

    return LINK.sub(rebased, body)


def render_fragment(body: str, figures: list[FigureRef], base: str) -> str:
    """A chapter's fragment: its `body` HTML then its figures, with the body's relative links
    and the figures' paths (both relative to the chapter's folder) rebased onto `base`."""
    return render_template(
        "fragment.html", body=rebase_links(body, base), figures=figures, base=base.rstrip("/")
    )


@dataclass
class Report:
    """Collect chapters with `add`, then `write` them to `DIR/report.html` atomically."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> None:
        """Append a chapter to the report."""
        self.sections.append(section)

    def render(self) -> str:
        """The whole report as one HTML page."""
        return render_template(
            "report.html",
            title=self.title,
            subtitle=self.subtitle,
            sections=self.sections,
            version=__version__,
            written=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )

    def write(self, out_dir: str | Path) -> Path:
        """Write `out_dir/report.html` atomically and return its path."""
        path = Path(out_dir) / "report.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, self.render())
        return path
