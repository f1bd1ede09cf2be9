"""Dataset figures: written, the right size, deterministic, and clear about bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from medgen.data.store import StoredDataset
from medgen.exceptions import InputError, SettingError
from medgen.report.figures import DPI, dataset_grid, grid_size_in, intensity_noise_figure
from medgen.report.tables import groups


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG, checking that it is a non-empty PNG."""
    assert path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_grid_has_one_row_per_location_and_type(
    fake_dataset: StoredDataset, tmp_path: Path
) -> None:
    grid = dataset_grid(fake_dataset, tmp_path / "grid.png", split="dev", per_cell=3)
    dev = fake_dataset.split("dev")
    assert grid.rows == groups(dev)
    for (location, kind), ids in zip(grid.rows, grid.ids, strict=True):
        assert 1 <= len(ids) <= 3
        rows = fake_dataset.meta.loc[ids]
        assert set(rows["split"]) == {"dev"}
        assert set(rows["location"]) == {location} and set(rows["tumour_type"]) == {kind}
    width, height = grid_size_in(len(grid.rows), 3)
    assert png_size(grid.path) == (round(width * DPI), round(height * DPI))


def test_grid_is_deterministic_given_the_seed(fake_dataset: StoredDataset, tmp_path: Path) -> None:
    a = dataset_grid(fake_dataset, tmp_path / "a.png", seed=1)
    b = dataset_grid(fake_dataset, tmp_path / "b.png", seed=1)
    c = dataset_grid(fake_dataset, tmp_path / "c.png", seed=2)
    assert a.ids == b.ids != c.ids
    assert a.path.read_bytes() == b.path.read_bytes()


def test_grid_of_all_splits_covers_every_group(fake_dataset: StoredDataset, tmp_path: Path) -> None:
    grid = dataset_grid(fake_dataset, tmp_path / "all.png", per_cell=100)
    assert sorted(i for ids in grid.ids for i in ids) == list(range(len(fake_dataset)))


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [({"split": "nope"}, "split"), ({"per_cell": 0}, "per_cell")],
)
def test_grid_rejects_bad_options(
    fake_dataset: StoredDataset, tmp_path: Path, kwargs: dict[str, object], what: str
) -> None:
    with pytest.raises(SettingError) as info:
        dataset_grid(fake_dataset, tmp_path / "x.png", **kwargs)  # type: ignore[arg-type]
    assert info.value.setting == what
    assert not (tmp_path / "x.png").exists()


def test_unknown_figure_format_is_input_error(fake_dataset: StoredDataset, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown figure format"):
        dataset_grid(fake_dataset, tmp_path / "grid.bogus")


def test_intensity_noise_figure(fake_dataset: StoredDataset, tmp_path: Path) -> None:
    path = intensity_noise_figure(fake_dataset, tmp_path / "dist.png", max_slices=10)
    assert png_size(path) == (1350, 700)


def test_figures_of_a_dataset_with_only_images(bare_dataset: StoredDataset, tmp_path: Path) -> None:
    assert png_size(intensity_noise_figure(bare_dataset, tmp_path / "dist.png")) == (1350, 700)
    assert png_size(dataset_grid(bare_dataset, tmp_path / "grid.png", per_cell=2).path)[0] > 0
