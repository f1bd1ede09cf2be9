"""The shipped feature extractor: its recorded dev scores meet the targets a feature space must
meet before its distances can speak for the lesions."""

from __future__ import annotations

import pytest

from medgen.compare.summary import FEATURE_TARGETS
from medgen.evaluate.features import extractor_record
from medgen.reference.zoo import load_reference

# presence by AUROC, type (3-way with none) and location (8-way with none) by accuracy
TARGETS = {
    "tumour presence AUROC": 0.95,
    "tumour_type accuracy": 0.85,
    "location accuracy": 0.80,
}


def test_the_targets_are_the_ones_the_comparison_reads() -> None:
    assert {key: target for key, (_, target) in FEATURE_TARGETS.items()} == TARGETS


@pytest.mark.parametrize("key", TARGETS)
def test_the_shipped_extractor_meets_each_feature_space_target(key: str) -> None:
    dev = load_reference("features").provenance["dev"]
    assert dev[key] >= TARGETS[key], f"{key} {dev[key]:.3f} < {TARGETS[key]}"


def test_the_provenance_records_the_extractors_own_dev_scores() -> None:
    reference = load_reference("features")
    assert reference.provenance["dev"] == extractor_record(reference.folder)["dev_scores"]
