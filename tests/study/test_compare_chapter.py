"""The comparison's record names a feature space that is still there once its folder is renamed."""

from __future__ import annotations

from pathlib import Path

from medgen.compare.engine import recorded_path


def test_a_feature_space_beside_the_comparison_is_recorded_relative(tmp_path: Path) -> None:
    # the study's compare chapter: features and compare/ in one temporary chapter folder
    chapter = tmp_path / ".compare.tmp-1"
    (chapter / "features").mkdir(parents=True)
    record = recorded_path(chapter / "features", chapter / "compare")
    assert record == "../features"
    chapter.rename(tmp_path / "compare")
    assert (tmp_path / "compare" / "compare" / record).resolve().is_dir()


def test_a_feature_space_elsewhere_is_recorded_absolute(tmp_path: Path) -> None:
    (tmp_path / "shared" / "features").mkdir(parents=True)
    record = recorded_path(tmp_path / "shared" / "features", tmp_path / "a" / "b" / "compare")
    assert record == str((tmp_path / "shared" / "features").resolve())
