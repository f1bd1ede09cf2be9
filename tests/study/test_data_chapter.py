"""The data chapter on the real (tiny) built-in dataset: build, reuse, rebuild, or take --data."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from medgen.data.store import open_dataset
from medgen.study.chapters import data_chapter
from medgen.study.context import Chapter
from medgen.study.profiles import PROFILES
from medgen.study.runner import StudyResult, run_study

TINY = PROFILES["tiny"]
ONLY_DATA: dict[str, Chapter] = {"data": data_chapter}


def study(out: Path, lines: list[str], **kwargs: object) -> StudyResult:
    """Run the tiny study with the data chapter only, one worker, logging into `lines`."""
    profile = kwargs.pop("profile", TINY)
    return run_study(
        out,
        profile,
        chapters=ONLY_DATA,
        workers=1,
        log=lines.append,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyResult, list[str]]:
    """A tiny study run once into a fresh folder."""
    lines: list[str] = []
    return study(tmp_path_factory.mktemp("study"), lines), lines


def test_builds_the_dataset_and_reports_on_it(built: tuple[StudyResult, list[str]]) -> None:
    result, lines = built
    out = result.report.parent
    store = open_dataset(out / "data")
    assert any("building 120 slices" in line for line in lines)
    done = json.loads((out / "chapters" / "data" / "done.json").read_text())
    assert done["outputs"]["dataset"] == "data"
    assert done["outputs"]["content_hash"] == store.manifest["content_hash"]
    text = result.report.read_text(encoding="utf-8")
    assert "The data" in text and "built for this study" in text
    assert re.search(r"<th>total</th>\s*<th></th>(\s*<td>\d+</td>){3}\s*<td>120</td>", text)
    sources = re.findall(r'src="([^"]+)"', text)
    names = sorted(Path(s).name for s in sources)
    assert names == ["distributions.png", "grid_dev.png", "grid_test.png", "grid_train.png"]
    assert all((out / src).stat().st_size > 1000 for src in sources)


def test_forced_rerun_reuses_the_dataset(built: tuple[StudyResult, list[str]]) -> None:
    out = built[0].report.parent
    before = (out / "data" / "images.npy").stat().st_mtime_ns
    lines: list[str] = []
    study(out, lines, force=["data"])
    assert any("reusing the dataset" in line for line in lines)
    assert (out / "data" / "images.npy").stat().st_mtime_ns == before


def test_given_dataset_is_used_as_is(built: tuple[StudyResult, list[str]], tmp_path: Path) -> None:
    data = built[0].report.parent / "data"
    lines: list[str] = []
    result = study(tmp_path, lines, data=data)
    assert not (tmp_path / "data").exists()
    done = json.loads((tmp_path / "chapters" / "data" / "done.json").read_text())
    assert done["outputs"]["dataset"] == str(data.resolve())
    assert "given with --data" in result.report.read_text(encoding="utf-8")


def test_a_new_data_config_rebuilds_the_dataset(
    built: tuple[StudyResult, list[str]], tmp_path: Path
) -> None:
    out = built[0].report.parent
    other = dataclasses.replace(TINY, data={**TINY.data, "n_test": 10})
    lines: list[str] = []
    study(out, lines, profile=other)
    assert any("another config; rebuilding" in line for line in lines)
    assert len(open_dataset(out / "data")) == 110
