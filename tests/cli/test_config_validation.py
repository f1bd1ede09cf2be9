"""Hostile numbers in a --config file or on the command line: one line naming the key, exit code
2, and no output folder (NaN compares false with every bound, so a plain range check lets it by)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import assert_one_line_error, run_cli


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ("[tumour]\noedema_contrast = nan\n", ("tumour.oedema_contrast", "finite")),
        ("[anatomy]\nfield_of_view_mm = -200.0\n", ("field_of_view_mm", "outside (0, 1000]")),
        ("[noise]\nsigma = [0.01, inf]\n", ("noise.sigma", "finite")),
        ("seed = -1\n", ("seed", "at least 0")),
    ],
)
def test_a_bad_number_in_the_config_is_one_line_and_makes_no_folder(
    tmp_path: Path, toml: str, needles: tuple[str, ...]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    out = tmp_path / "data"
    result = run_cli("data", "make", "--config", config, "--out", out)
    assert_one_line_error(result, str(config), *needles)
    assert not out.exists()


def test_bad_seed_and_workers_options_name_their_flags(tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert_one_line_error(run_cli("data", "make", "--out", out, "--seed", "-1"), "--seed")
    assert_one_line_error(
        run_cli("data", "make", "--out", out, "--n-train", "4", "--workers", "-2"), "--workers"
    )
    assert not out.exists()
