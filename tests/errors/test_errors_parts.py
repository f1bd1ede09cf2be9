"""Error analysis by parts on a toy numpy pipeline whose faulty parts are known."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pytest

from medgen.errors.parts import AnalysablePipeline, attribute_errors

CLASSES = np.array(["none", "benign", "malignant"])
N = 300
TRUTH = np.random.default_rng(0).integers(0, 3, size=N)  # class index per id
TRUTH[:70] = 1 + np.arange(70) % 2  # the faulty ids all hold a tumour
CORRUPTED = np.arange(0, 30)  # preprocess wipes the tumour out of these images
DROPPED = np.arange(20, 60)  # extract loses the region on these (20-29 also corrupted)
MISCLASSIFIED = np.arange(50, 70)  # classify swaps benign/malignant (50-59 also dropped)


class ToyPipeline:
    """image (channel c lit for class c > 0) -> preprocess -> extract (region) -> classify."""

    parts = ("preprocess", "extract", "classify")

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    def predict(self, ids: np.ndarray, perfect: Collection[str] = ()) -> np.ndarray:
        self.calls.append((len(ids), tuple(sorted(perfect))))
        image = np.zeros((len(ids), 3))  # (B, 3)
        image[np.arange(len(ids)), TRUTH[ids]] = 1.0
        image[:, 0] = 0.0  # "none" lights nothing
        if "preprocess" not in perfect:
            image[np.isin(ids, CORRUPTED)] = 0.0
        if "extract" in perfect:
            region = TRUTH[ids]
        else:
            region = np.where(image.max(axis=1) > 0.5, image.argmax(axis=1), 0)
            region[np.isin(ids, DROPPED)] = 0
        swapped = np.where(region > 0, 3 - region, 0)
        return CLASSES[np.where(np.isin(ids, MISCLASSIFIED), swapped, region)]


def test_the_toy_pipeline_satisfies_the_protocol() -> None:
    assert isinstance(ToyPipeline(), AnalysablePipeline)


def test_attribution_recovers_the_faulty_subsets() -> None:
    pipeline = ToyPipeline()
    report = attribute_errors(pipeline, np.arange(N), CLASSES[TRUTH])
    part = dict(zip(report.attribution["id"], report.attribution["part"], strict=True))
    assert sorted(part) == list(range(70))
    # corrupted only -> preprocess; dropped (even if also corrupted) -> extract; the rest classify
    assert sorted(i for i, p in part.items() if p == "preprocess") == list(range(0, 20))
    assert sorted(i for i, p in part.items() if p == "extract") == list(range(20, 50))
    assert sorted(i for i, p in part.items() if p == "classify") == list(range(50, 70))
    assert report.counts == {"preprocess": 20, "extract": 30, "classify": 20}
    assert report.shares["extract"] == pytest.approx(30 / 70)


def test_cumulative_ceiling_and_batched_calls() -> None:
    pipeline = ToyPipeline()
    report = attribute_errors(pipeline, np.arange(N), CLASSES[TRUTH])
    accuracy = [round(r.accuracy * N) for r in report.ceiling]
    assert accuracy == [N - 70, N - 50, N - 20]  # nothing, preprocess, preprocess + extract
    assert [r.perfect for r in report.ceiling] == [(), ("preprocess",), ("preprocess", "extract")]
    assert pipeline.calls == [
        (N, ()),
        (70, ("preprocess",)),
        (70, ("extract",)),
        (N, ("preprocess",)),
        (N, ("extract", "preprocess")),
    ]
    table = report.table()
    assert list(table["errors"]) == [20, 30, 20]
    assert table["accuracy_if_perfect_up_to"].iloc[1] == pytest.approx((N - 20) / N)


def test_no_errors_means_empty_shares_and_bad_shapes_are_refused() -> None:
    pipeline = ToyPipeline()
    clean_ids = np.arange(100, N)
    predicted = pipeline.predict(clean_ids)
    report = attribute_errors(pipeline, clean_ids, predicted)
    assert report.n_errors == 0 and report.shares == dict.fromkeys(pipeline.parts, 0.0)
    with pytest.raises(ValueError, match="must be 1-D and match"):
        attribute_errors(pipeline, np.arange(5), CLASSES[TRUTH[:4]])


def test_the_table_gives_each_shares_interval_and_its_wrong_type_errors() -> None:
    report = attribute_errors(ToyPipeline(), np.arange(N), CLASSES[TRUTH])
    table = report.table().set_index("part")
    for part, count in report.counts.items():
        low, share, high = table.loc[part, ["share_low", "share", "share_high"]]
        assert share == pytest.approx(count / 70) and low < share < high
    assert table.loc["extract", "share_high"] - table.loc["extract", "share_low"] > 0.2  # n 70
    # only the swap names a wrong tumour type (ids 60-69; 50-59 lost their region: "none")
    assert table["wrong_type"].to_dict() == {"preprocess": 0, "extract": 0, "classify": 10}
    assert table["gain"].iloc[:2].tolist() == pytest.approx([20 / N, 30 / N])
    assert (table["verdict"] == "").all()


class CleanInputHurts(ToyPipeline):
    """A pipeline whose later parts learned on corrupted inputs: a perfect preprocess fixes the
    corrupted ids but breaks twice as many others."""

    def predict(self, ids: np.ndarray, perfect: Collection[str] = ()) -> np.ndarray:
        out = super().predict(ids, perfect)
        if "preprocess" in perfect and "extract" not in perfect:
            broken = np.isin(ids, np.arange(100, 160))
            out[broken] = np.where(CLASSES[TRUTH[ids[broken]]] == "none", "benign", "none")
        return out


def test_a_part_whose_perfect_output_lowers_accuracy_has_no_gain_and_no_share() -> None:
    report = attribute_errors(CleanInputHurts(), np.arange(N), CLASSES[TRUTH])
    assert report.counts["preprocess"] == 20  # alone it still fixes its own errors
    row = report.table().set_index("part").loc["preprocess"]
    assert row["gain"] == pytest.approx((20 - 60) / N)
    assert row["verdict"] == "no gain: a perfect preprocess takes accuracy from 0.767 to 0.633"
    assert np.isnan(row["share"]) and np.isnan(row["share_low"])
