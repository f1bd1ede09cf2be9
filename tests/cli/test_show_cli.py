"""`medgen data show` through the command line, on a tiny built-in dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cli_support import run_cli as medgen


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-slice built-in dataset at 32 pixels."""
    from medgen.data.synth import make_dataset, resolve_config

    root = tmp_path_factory.mktemp("show") / "data"
    make_dataset(root, resolve_config(None, size=32, n_train=10, n_dev=10, n_test=10), workers=1)
    return root


def test_show_writes_a_grid(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs" / "grid.png"
    result = medgen("data", "show", tiny_data, "--out", out, "--split", "dev", "--per-cell", "2")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "nope"], "'nope' is not one of 'train', 'dev', 'test'"),
        (["--per-cell", "0"], "--per-cell"),
    ],
)
def test_bad_options_are_one_line(
    tiny_data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = medgen("data", "show", tiny_data, "--out", tmp_path / "g.png", *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "g.png").exists()


def test_a_folder_that_is_not_a_dataset_is_one_line(tmp_path: Path) -> None:
    result = medgen("data", "show", tmp_path, "--out", tmp_path / "g.png")
    assert result.returncode == 2
    assert "not a medgen dataset" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_shows_an_example() -> None:
    result = medgen("data", "show", "--help")
    assert result.returncode == 0 and "Example: medgen data show" in result.stdout
