"""`medgen data make` through the command line: output, bad options, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import assert_one_line_error, run_cli

SMALL = ("--n-train", "20", "--n-dev", "10", "--n-test", "10")


def test_make_writes_a_dataset_and_config_file_values_hold(tmp_path: Path) -> None:
    config = tmp_path / "data.toml"
    config.write_text("size = 32\nseed = 5\n[noise]\nsigma = [0.01, 0.02]\n")
    result = run_cli("data", "make", "--out", tmp_path / "d", *SMALL, "--config", config)
    assert result.returncode == 0, result.stderr
    assert "40 slices" in result.stdout
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["size"] == 32 and manifest["config"]["seed"] == 5
    assert manifest["config"]["noise"]["sigma"] == [0.01, 0.02]
    assert manifest["splits"] == {"dev": 10, "test": 10, "train": 20}


def test_bad_size_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    result = run_cli("data", "make", "--out", tmp_path / "d", "--size", "100", *SMALL)
    assert_one_line_error(result, "--size", "100")
    assert list(tmp_path.iterdir()) == []


def test_unknown_config_key_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "data.toml"
    config.write_text("[tumour]\nradius = 3\n")
    result = run_cli("data", "make", "--out", tmp_path / "d", "--config", config)
    assert_one_line_error(result, str(config), "radius")
    assert not (tmp_path / "d").exists()


def test_broken_or_missing_config_file(tmp_path: Path) -> None:
    config = tmp_path / "data.toml"
    config.write_text("size = [\n")
    assert_one_line_error(
        run_cli("data", "make", "--out", tmp_path / "d", "--config", config), str(config), "TOML"
    )
    missing = tmp_path / "nope.toml"
    assert_one_line_error(
        run_cli("data", "make", "--out", tmp_path / "d", "--config", missing),
        str(missing),
        "no such file",
    )


def test_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "d"
    assert run_cli("data", "make", "--out", out, "--size", "32", *SMALL).returncode == 0
    before = (out / "manifest.json").read_bytes()
    assert_one_line_error(run_cli("data", "make", "--out", out, *SMALL), str(out), "--overwrite")
    assert (out / "manifest.json").read_bytes() == before


def test_negative_count_is_rejected(tmp_path: Path) -> None:
    result = run_cli("data", "make", "--out", tmp_path / "d", "--n-dev", "-3")
    assert_one_line_error(result, "--n-dev")


def test_help_shows_defaults_and_an_example() -> None:
    result = run_cli("data", "make", "--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout and "8000" in result.stdout
