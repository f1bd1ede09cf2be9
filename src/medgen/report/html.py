"""The HTML report: chapters (title, HTML fragment, figures) assembled into one `report.html`.

A chapter's fragment refers to its figures by paths relative to the report's folder, so the
report opens from disk in any browser with no server and no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from medgen import __version__
from medgen.fileio import write_text_atomic

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


def table_html(table: pd.DataFrame, *, float_format: str = "{:.3g}") -> str:
    """A pandas table as an HTML fragment (index shown, numbers formatted)."""
    return table.to_html(
        classes="table", border=0, float_format=float_format.format, na_rep="–", escape=True
    )


def render_fragment(body: str, figures: list[FigureRef], base: str) -> str:
    """A chapter's fragment: its `body` HTML then its figures, linked relative to `base`."""
    return render_template("fragment.html", body=body, figures=figures, base=base.rstrip("/"))


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
