"""A library SettingError names the setting; the command line shows the flag that sets it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

import medgen
from cli_support import assert_one_line_error, run_cli
from medgen.cli import app
from medgen.cli.flags import setting_flag
from medgen.data.store import check_size
from medgen.exceptions import SettingError

SRC = Path(medgen.__file__).parent


def test_a_library_setting_error_reaches_the_user_under_its_flag(tmp_path: Path) -> None:
    with pytest.raises(SettingError) as info:  # the library names its own setting ...
        check_size(100)
    assert info.value.setting == "size"
    made = run_cli("data", "make", "--out", tmp_path / "d", "--size", "100")
    line = assert_one_line_error(made)  # ... the command line its flag
    assert line == f"medgen: error: --size: {info.value.problem}"
    empty = run_cli(
        "data", "make", "--out", tmp_path / "d", "--n-train", "0", "--n-dev", "0", "--n-test", "0"
    )
    line = assert_one_line_error(empty)
    assert line == "medgen: error: --n-train/--n-dev/--n-test: the dataset would be empty"
    (tmp_path / "src").mkdir()
    imported = run_cli("data", "import", tmp_path / "src", "--out", tmp_path / "o", "--axis", "3")
    assert assert_one_line_error(imported) == "medgen: error: --axis: 3 is not 0, 1 or 2"


def _tiny_app() -> typer.Typer:
    """Two commands under a group, one with a `slice_` parameter and a renamed option."""
    tiny = typer.Typer()
    group = typer.Typer()

    @group.command("cut")
    def cut(
        slice_: str = typer.Option("", "--slice"),
        n_train: int = typer.Option(1),
        noise: str = typer.Option("gaussian", "--noise-kind", "-k"),
    ) -> None:
        """Cut."""

    @tiny.command("other")
    def other(seed: int = typer.Option(0)) -> None:
        """Other."""

    tiny.add_typer(group, name="grp")
    return tiny


@pytest.mark.parametrize(
    ("argv", "setting", "flag"),
    [
        (["grp", "cut", "--slice", "a=b"], "slice", "--slice"),  # param `slice_`
        (["grp", "cut"], "n_train", "--n-train"),
        (["grp", "cut", "-k", "x"], "noise", "--noise-kind"),  # the first long option
        (["grp", "cut"], "n_train/slice", "--n-train/--slice"),  # part by part
        (["grp", "cut"], "seed", "seed"),  # no option of `cut` sets it: as is
        (["grp", "cut"], "n_train/seed", "--n-train/seed"),
        (["other", "--seed", "3"], "seed", "--seed"),
        (["other"], "slice", "slice"),  # another command's option does not count
        (["nope"], "seed", "seed"),  # no such command
        ([], "seed", "seed"),
    ],
)
def test_setting_flag_maps_a_setting_to_the_running_commands_option(
    argv: list[str], setting: str, flag: str
) -> None:
    assert setting_flag(_tiny_app(), argv, setting) == flag


def test_setting_flag_on_medgen_commands() -> None:
    assert setting_flag(app, ["anomaly", "runs/healthy"], "noise") == "--noise-kind"
    assert setting_flag(app, ["denoise", "runs/diffusion"], "noise") == "--noise"
    assert setting_flag(app, ["data", "make", "--out", "d"], "n_dev") == "--n-dev"
    assert setting_flag(app, ["train", "vae"], "budget") == "--budget"


def test_no_library_module_names_a_flag_in_an_input_error() -> None:
    pattern = re.compile(r'InputError\(\s*f?"--')
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if "cli" not in path.relative_to(SRC).parts[:1]
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
