"""`medgen errors ...` end to end through the command line, on made-up predictions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from errors_support import make_table

from cli_support import assert_one_line_error, run_cli
from medgen.detect.predictions import read_predictions, write_predictions
from medgen.errors.split import split_project
from medgen.errors.store import ErrorStore


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """A project folder and v1's predictions on a 3000-example dev set at 20 % error."""
    root = tmp_path_factory.mktemp("errors-cli")
    table = make_table(3000, 0.2)
    write_predictions(root / "v1", table, "v1", "dev", "data", "h" * 12, image_size=64)
    return root / "proj", root / "v1", table


def test_split_tally_tag_evaluate_history_refresh(
    session: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    project, v1, table = session
    made = run_cli("errors", "split", "--predictions", v1, "--project", project)
    assert made.returncode == 0, made.stderr
    assert "new split of dev" in made.stdout and "eyeball 500, blackbox 2500" in made.stdout
    again = run_cli("errors", "split", "--predictions", v1, "--project", project)
    assert "using the stored split" in again.stdout

    with ErrorStore(project) as store:
        split = store.latest_split()
    assert split is not None
    indexed = table.set_index("id")
    errors = [
        int(i) for i in split.eyeball if indexed.loc[i, "truth"] != indexed.loc[i, "prediction"]
    ]
    tagged = run_cli("errors", "tag", errors[0], "blurry", "--project", project)
    assert tagged.returncode == 0 and "blurry: added" in tagged.stdout, tagged.stderr

    out = tmp_path / "sheet.csv"
    tally = run_cli("errors", "tally", "--predictions", v1, "--project", project, "--out", out)
    assert tally.returncode == 0, tally.stderr
    assert f"{len(errors)} errors" in tally.stdout and "location=brainstem" in tally.stdout
    assert "blurry" in tally.stdout and "mislabeled" in tally.stdout
    sheet = pd.read_csv(out)
    assert len(sheet) == len(errors) and sheet["blurry"].sum() == 1

    fixed = table.copy()  # v2 fixes the eyeball errors only: the watch must say so
    on_eye = fixed["id"].isin(split.eyeball)
    fixed.loc[on_eye, "prediction"] = fixed.loc[on_eye, "truth"]
    write_predictions(v1.parent / "v2", fixed, "v2", "dev", "data", "h" * 12)
    first = run_cli("errors", "evaluate", "--predictions", v1, "--project", project)
    assert "v1 on split generation 0" in first.stdout and first.stderr == ""
    second = run_cli("errors", "evaluate", "--predictions", v1.parent / "v2", "--project", project)
    assert second.returncode == 0 and "eyeball error 0.0%" in second.stdout
    assert "medgen: warning: eyeball error fell" in second.stderr and "--refresh" in second.stderr

    history = run_cli("errors", "history", "--project", project)
    assert "2 evaluation(s)" in history.stdout and "v2" in history.stdout
    refresh = run_cli("errors", "split", "--predictions", v1, "--project", project, "--refresh")
    assert "generation 1, refresh" in refresh.stdout and "retired 500" in refresh.stdout


def test_bad_input_is_one_line(session: tuple[Path, Path, pd.DataFrame], tmp_path: Path) -> None:
    _, v1, _ = session
    project = tmp_path / "proj"
    assert_one_line_error(
        run_cli("errors", "split", "--predictions", tmp_path / "nope"), "no such predictions folder"
    )
    assert_one_line_error(
        run_cli("errors", "tally", "--predictions", v1, "--project", project), "errors.sqlite"
    )
    with ErrorStore(project) as store:
        blackbox = split_project(store, read_predictions(v1)).split.blackbox
    assert_one_line_error(
        run_cli("errors", "tally", "--predictions", v1, "--project", project, "--by", "colour"),
        "--by",
    )
    assert_one_line_error(
        run_cli("errors", "tag", blackbox[0], "blurry", "--project", project), "blackbox"
    )


def test_help_shows_examples() -> None:
    result = run_cli("errors", "split", "--help")
    assert result.returncode == 0 and "Example: medgen errors split" in result.stdout
