"""`medgen features --overwrite` replaces a feature extractor folder and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgen.evaluate.features import FeatureConfig, train_extractor
from medgen.exceptions import InputError


def test_overwrite_refuses_what_is_not_an_extractor(builtin_dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "extractor.json").write_text('{"format": "medgen-slices"}')
    (tmp_path / "file").write_text("mine")
    for name in ("mine", "file"):
        with pytest.raises(InputError, match="is not a medgen-features folder"):
            train_extractor(
                builtin_dataset, tmp_path / name, FeatureConfig(steps=1), overwrite=True
            )
    assert (tmp_path / "file").read_text() == "mine"
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["extractor.json"]
