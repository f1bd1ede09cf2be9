"""What counts as anomalous: the tumour mask by default, the whole abnormal region (tumour and
oedema) beside it, each scored with its own dev threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from medgen.data.store import open_dataset
from medgen.exceptions import SettingError
from medgen.tasks.anomaly_maps import Residuals
from medgen.tasks.anomaly_split import (
    TRUTHS,
    AnomalySettings,
    anomalous_pixels,
    scores_by_truth,
)


def _ids(store: Any, split: str) -> NDArray[np.int64]:
    return store.split(split).index.to_numpy().astype(np.int64)


def test_whole_truth_is_tumour_and_oedema(builtin_dataset: Path) -> None:
    store = open_dataset(builtin_dataset)
    ids = _ids(store, "test")
    tumour = np.asarray(store.array("tumour_mask")[ids]).astype(bool)
    oedema = np.asarray(store.array("oedema_mask")[ids]).astype(bool)
    assert oedema.any()  # malignant tumours of the test split have oedema: the test can fail
    np.testing.assert_array_equal(anomalous_pixels(store, ids, "whole"), tumour | oedema)
    np.testing.assert_array_equal(anomalous_pixels(store, ids, "tumour"), tumour)


class _NoOedema:
    """A store with a tumour mask and no oedema array, as an imported BraTS-style dataset."""

    def __init__(self, tumour: NDArray[np.uint8]) -> None:
        self.arrays = {"tumour_mask": tumour}

    def array(self, name: str) -> NDArray[np.uint8]:
        return self.arrays[name]


def test_without_an_oedema_array_the_whole_truth_is_the_tumour_mask() -> None:
    tumour = np.zeros((3, 4, 4), np.uint8)
    tumour[1, 1:3, 1:3] = 1
    store: Any = _NoOedema(tumour)
    ids = np.arange(3)
    for kind in TRUTHS:
        np.testing.assert_array_equal(anomalous_pixels(store, ids, kind), tumour.astype(bool))


def _region_maps(store: Any, ids: NDArray[np.int64]) -> NDArray[np.float64]:
    """Maps that are 1 on the whole abnormal region (tumour and oedema) and 0 elsewhere."""
    return anomalous_pixels(store, ids, "whole").astype(np.float64)


def _dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_a_map_of_the_whole_region_scores_one_on_it_and_less_on_the_lesion(
    builtin_dataset: Path,
) -> None:
    store = open_dataset(builtin_dataset)
    ids, dev = _ids(store, "test"), _ids(store, "dev")
    dev = dev[store.meta.loc[dev, "label"].to_numpy() == 1]
    meta = store.meta.loc[ids].reset_index(drop=True)
    truths = {kind: anomalous_pixels(store, ids, kind) for kind in TRUTHS}
    found = scores_by_truth(
        meta,
        Residuals(_region_maps(store, ids), np.asarray(store.array("brain_mask")[ids])),
        truths,
        Residuals(_region_maps(store, dev), np.asarray(store.array("brain_mask")[dev])),
        {kind: anomalous_pixels(store, dev, kind) for kind in TRUTHS},
        # unsmoothed maps, cut by the plain threshold: Dice by hand below
        AnomalySettings(blur=0.0, segment_blur=0.0, cleanup="none"),
    )
    whole, lesion = found["whole"]["groups"], found["tumour"]["groups"]
    for kind in TRUTHS:  # map > 0 is the region: dev picks it for both truths
        assert found[kind]["threshold"] == 0.0
    # the map marks tumour and oedema exactly: perfect against that truth, for every type
    for group in ("tumour_type=benign", "tumour_type=malignant"):
        assert whole[group]["dice"] == pytest.approx(1.0)
        assert whole[group]["pixel_auprc"] == pytest.approx(1.0)
    # against the lesion alone benign tumours (no oedema) stay perfect; malignant ones pay for
    # their oedema, slice by slice: Dice 2|T| / (|T| + |T u O|)
    assert lesion["tumour_type=benign"]["dice"] == pytest.approx(1.0)
    malignant = np.flatnonzero(meta["tumour_type"].to_numpy() == "malignant")
    assert len(malignant) > 0
    by_hand = np.mean([_dice(truths["whole"][i], truths["tumour"][i]) for i in malignant])
    assert by_hand < 0.8  # the oedema is large: the two truths really differ
    assert lesion["tumour_type=malignant"]["dice"] == pytest.approx(by_hand)


def test_the_tumour_mask_is_the_default_and_an_unknown_truth_one_clear_error() -> None:
    assert AnomalySettings().truth == "tumour"
    with pytest.raises(SettingError, match="truth"):
        AnomalySettings(truth="oedema")
