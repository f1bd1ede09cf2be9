"""The overfitting watch on made-up histories, and evaluations recorded per split generation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from errors_support import make_table

from medgen.detect.predictions import Predictions, read_predictions, write_predictions
from medgen.errors.split import split_project
from medgen.errors.store import ErrorStore, EvaluationRecord
from medgen.errors.watch import OverfitWatch, evaluate_project, watch_project
from medgen.exceptions import InputError


def history(
    eyeball: list[float], blackbox: list[float], n: tuple[int, int] = (500, 4500)
) -> list[EvaluationRecord]:
    return [
        EvaluationRecord(i, f"v{i}", 1, 0, f"t{i}", e, b, n[0], n[1], "p")
        for i, (e, b) in enumerate(zip(eyeball, blackbox, strict=True))
    ]


def test_fires_when_eyeball_drops_and_blackbox_stays() -> None:
    watch = OverfitWatch().fit(history([0.20, 0.12, 0.05], [0.20, 0.20, 0.20]))
    assert watch.overfitting_ and watch.gap_ == pytest.approx(0.15)
    assert watch.message_ is not None and "--refresh" in watch.message_


def test_quiet_when_both_drop_together() -> None:
    watch = OverfitWatch().fit(history([0.20, 0.12, 0.05], [0.20, 0.13, 0.06]))
    assert not watch.overfitting_ and watch.message_ is None


@pytest.mark.parametrize("n_evaluations", [0, 1])
def test_quiet_with_fewer_than_two_evaluations(n_evaluations: int) -> None:
    watch = OverfitWatch().fit(history([0.20] * n_evaluations, [0.30] * n_evaluations))
    assert not watch.overfitting_ and watch.n_used_ == n_evaluations


def test_quiet_when_the_gap_is_within_the_noise_of_small_sets() -> None:
    # 6 points of gap on 50 eyeball examples: SE ~5.5 points, so not a signal
    assert not OverfitWatch().fit(history([0.20, 0.14], [0.20, 0.20], n=(50, 200))).overfitting_


def test_only_the_last_window_counts() -> None:
    old_gap_then_parallel = history([0.30, 0.10, 0.08, 0.06], [0.30, 0.30, 0.28, 0.26])
    assert OverfitWatch(window=5).fit(old_gap_then_parallel).overfitting_
    assert not OverfitWatch(window=3).fit(old_gap_then_parallel).overfitting_


def _predictions(root: Path, name: str, table: pd.DataFrame) -> Predictions:
    write_predictions(root / name, table, name, "dev", "data", "h")
    return read_predictions(root / name)


def test_evaluate_records_both_errors_and_warns_on_an_overfit_history(tmp_path: Path) -> None:
    table = make_table(3000, 0.2)
    v1 = _predictions(tmp_path, "v1", table)
    with ErrorStore(tmp_path / "proj") as store:
        with pytest.raises(InputError, match="no eyeball/blackbox split"):
            evaluate_project(store, v1)
        split = split_project(store, v1).split
        first = evaluate_project(store, v1)
        assert first.evaluation.blackbox_error == pytest.approx(
            (table.set_index("id").loc[split.blackbox].eval("truth != prediction")).mean()
        )
        assert not first.watch.overfitting_
        fixed = table.copy()  # v2 fixes exactly the eyeball errors: what overfitting looks like
        on_eye = fixed["id"].isin(split.eyeball)
        fixed.loc[on_eye, "prediction"] = fixed.loc[on_eye, "truth"]
        second = evaluate_project(store, _predictions(tmp_path, "v2", fixed))
        assert second.evaluation.eyeball_error == 0.0 and second.watch.overfitting_
        assert [e.model_version for e in second.history] == ["v1", "v2"]
        split_project(store, v1, refresh=True)  # a new eyeball set starts a new history
        assert not watch_project(store).overfitting_ and watch_project(store).n_used_ == 0
        assert len(store.evaluations()) == 2
