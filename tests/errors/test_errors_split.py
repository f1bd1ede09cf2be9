"""Eyeball/blackbox sizing rules (MLY ch. 17-18), stratification, stability and refresh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from errors_support import make_table

from medgen.detect.predictions import Predictions, read_predictions, write_predictions
from medgen.errors.split import EyeballSplit, allocate, eyeball_size, split_project
from medgen.errors.store import ErrorStore
from medgen.exceptions import InputError


def test_twenty_percent_error_on_5000_gives_500_eyeball_examples_for_100_errors() -> None:
    size = eyeball_size(5000, 0.20)
    assert (size.n_eyeball, size.n_blackbox) == (500, 4500)
    assert size.expected_errors == pytest.approx(100) and size.limited_by == "target"
    assert size.warnings == ()


def test_a_very_low_error_rate_is_capped_so_the_blackbox_keeps_1000() -> None:
    size = eyeball_size(5000, 0.002)  # 100 errors would need 50,000 examples
    assert (size.n_eyeball, size.n_blackbox, size.limited_by) == (4000, 1000, "blackbox")
    assert size.expected_errors == pytest.approx(8)
    assert any("too few" in w for w in size.warnings)


def test_the_target_is_clipped_to_20_to_500_errors() -> None:
    assert eyeball_size(100_000, 0.1, 5000).n_eyeball == 5000  # 500 errors at most
    assert eyeball_size(100_000, 0.1, 5).n_eyeball == 200  # 20 errors at least
    assert "clipped" in eyeball_size(100_000, 0.1, 5).warnings[0]


def test_a_tiny_dev_set_is_halved_and_warned_about() -> None:
    size = eyeball_size(40, 0.2)
    assert (size.n_eyeball, size.n_blackbox) == (20, 20)
    assert any("too few" in w for w in size.warnings)
    with pytest.raises(InputError, match="at least 2"):
        eyeball_size(1, 0.2)


def test_no_errors_warns_and_keeps_the_blackbox_minimum() -> None:
    size = eyeball_size(3000, 0.0)
    assert (size.n_eyeball, size.n_blackbox) == (2000, 1000)
    assert "no errors" in size.warnings[0]


def test_allocation_is_proportional_and_sums_exactly() -> None:
    quota = allocate(np.array([50.0, 30.0, 20.0, 1.0]), 10)
    assert quota.sum() == 10 and list(quota) == [5, 3, 2, 0]


def test_the_draw_is_stratified_by_truth_and_location() -> None:
    table = make_table(5000, 0.2)
    split = EyeballSplit(100, seed=3).fit(table)
    assert len(split.eyeball_ids_) == 500 and len(split.blackbox_ids_) == 4500
    assert np.intersect1d(split.eyeball_ids_, split.blackbox_ids_).size == 0
    is_eye = table["id"].isin(split.eyeball_ids_)
    for _, group in table.groupby(["truth", "location"]):
        wanted = len(group) * 500 / 5000
        assert abs(is_eye[group.index].sum() - wanted) < 1.0


def test_the_draw_depends_on_the_seed_not_on_row_order() -> None:
    table = make_table(2000, 0.2)
    a = EyeballSplit(seed=1).fit(table).eyeball_ids_
    b = EyeballSplit(seed=1).fit(table.sample(frac=1.0, random_state=0)).eyeball_ids_
    c = EyeballSplit(seed=2).fit(table).eyeball_ids_
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.fixture
def preds_5000(tmp_path: Path) -> Predictions:
    folder = tmp_path / "pred"
    write_predictions(folder, make_table(5000, 0.2), "v1", "dev", "data", "hash1")
    return read_predictions(folder)


def test_the_split_is_stored_and_stable(tmp_path: Path, preds_5000: Predictions) -> None:
    with ErrorStore(tmp_path / "proj") as store:
        first = split_project(store, preds_5000)
    with ErrorStore(tmp_path / "proj") as store:
        again = split_project(store, preds_5000, target_errors=300, seed=9)
    assert first.created and not again.created and again.size is None
    assert np.array_equal(first.split.eyeball, again.split.eyeball)
    assert np.array_equal(first.split.blackbox, again.split.blackbox)
    assert (len(first.split.eyeball), first.split.generation) == (500, 0)


def test_refresh_retires_the_eyeball_set_and_draws_from_the_blackbox(
    tmp_path: Path,
    preds_5000: Predictions,
) -> None:
    with ErrorStore(tmp_path) as store:
        with pytest.raises(InputError, match="no split to refresh"):
            split_project(store, preds_5000, refresh=True)
        old = split_project(store, preds_5000).split
        new = split_project(store, preds_5000, refresh=True).split
        assert store.current_split("hash1", "dev").generation == 1  # type: ignore[union-attr]
    assert (new.generation, new.reason) == (1, "refresh")
    assert np.array_equal(new.retired, old.eyeball)
    assert np.isin(new.eyeball, old.blackbox).all()
    assert len(new.eyeball) + len(new.blackbox) == len(old.blackbox)
    pool = preds_5000.table[preds_5000.table["id"].isin(old.blackbox)]
    rate = float((pool["truth"] != pool["prediction"]).mean())  # sized on the blackbox pool
    assert len(new.eyeball) == eyeball_size(len(pool), rate).n_eyeball


def test_predictions_on_other_examples_are_refused(tmp_path: Path, preds_5000: Predictions) -> None:
    with ErrorStore(tmp_path) as store:
        split_project(store, preds_5000)
        other = make_table(5000, 0.2).assign(id=lambda t: t["id"] + 1)
        write_predictions(tmp_path / "other", other, "v2", "dev", "data", "hash1")
        with pytest.raises(InputError, match="not in the stored split"):
            split_project(store, read_predictions(tmp_path / "other"))
