"""The metric sanity suite at small scale: damages do what they say, the verdict rule reads
hand-made numbers right, and the robust claims hold on 100 built-in slices.

The feature space is a fixed random projection of the pixels (random features). The shipped
extractor belongs to the standard data only, and an extractor trained within a test's time
learns too little to see noise; under a projection, noise adds sigma^2 |w|^2 to every feature's
variance and blur removes variance, so FD must rise under both, and collapse and copying show in
any feature map that tells slices apart. The benchmark (benchmarks/metric_sanity.py) runs the
full suite in the shipped feature space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medgen.data.store import open_dataset
from medgen.evaluate.damage import DAMAGES, Context, Slices, blur, histogram_blob, read_slices
from medgen.evaluate.extractor import Extractor
from medgen.evaluate.sanity import (
    CLAIMS,
    DOWN,
    UP,
    Cell,
    FeatureCache,
    SanitySettings,
    failures,
    run_suite,
    verdict,
    verdict_table,
)
from medgen.exceptions import SettingError

ROBUST = [  # (metric, damage) pairs the small-scale suite must pass
    ("FD", "blur"),
    ("FD", "noise"),
    ("FD", "collapse"),
    ("recall", "collapse"),
    ("memorisation ratio", "copy"),
    ("fraction closer", "copy"),
]
SMALL = SanitySettings(
    halves=10,
    kid_subsets=5,
    damages=("blur", "noise", "collapse", "copy"),
    strengths={
        "blur": (1.0, 2.0),
        "noise": (0.1, 0.2),
        "collapse": (10, 2),
        "copy": (0.5, 1.0),
    },
)


@pytest.fixture(scope="module")
def sets(builtin_dataset: Path) -> tuple[Slices, Slices, Context]:
    """Generated (test split), reference (dev) and the context (spare dev, train to copy)."""
    store = open_dataset(builtin_dataset)
    train, dev, test = (np.sort(store.split(s).index.to_numpy()) for s in ("train", "dev", "test"))
    base = read_slices(store, test)
    spare = read_slices(store, dev[len(base) :])
    context = Context(spare, read_slices(store, train), np.random.default_rng(0))
    return base, read_slices(store, dev[: len(base)]), context


def random_projection(size: int, dim: int = 32, seed: int = 0) -> Extractor:
    """Features (N, dim): the pixels projected on dim fixed Gaussian directions of unit length
    in expectation."""
    weights = torch.randn(size * size, dim, generator=torch.Generator().manual_seed(seed)) / size
    return Extractor(lambda x: x.flatten(1) @ weights, "random projection", size)


def test_every_damage_keeps_the_set_shape_and_range(sets: tuple[Slices, Slices, Context]) -> None:
    base, _, context = sets
    for name, damage in DAMAGES.items():
        damaged = damage(base, 1.0 if name != "collapse" else 2, context)
        assert damaged.images.shape == base.images.shape, name
        assert damaged.images.dtype == np.float32, name
        assert damaged.images.min() >= 0.0 and damaged.images.max() <= 1.0, name
        assert len(damaged.meta) == len(base), name


def test_set_damages_do_exactly_what_they_say(sets: tuple[Slices, Slices, Context]) -> None:
    base, _, context = sets
    two = DAMAGES["collapse"](base, 2, context)
    assert len(np.unique(two.images.reshape(len(base), -1), axis=0)) == 2
    half = DAMAGES["copy"](base, 0.5, context)
    train = {img.tobytes() for img in context.train.images}
    assert sum(img.tobytes() in train for img in half.images) == round(0.5 * len(base))
    dropped = DAMAGES["drop type"](base, 1.0, context)
    malignant = (base.meta["tumour_type"] == "malignant").to_numpy()
    assert (dropped.meta["tumour_type"] == base.meta["tumour_type"]).all()  # intended labels
    kept = {img.tobytes() for img in base.images[malignant]}
    assert not any(img.tobytes() in kept for img in dropped.images[malignant])
    healed = DAMAGES["no lesions"](base, 1.0, context)
    outside = ~base.lesion.any(axis=(1, 2))
    np.testing.assert_array_equal(healed.images[outside], base.images[outside])
    assert not np.array_equal(healed.images[~outside], base.images[~outside])


def test_blur_keeps_the_mean_and_blobs_keep_the_histogram() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 32, 32)).astype(np.float32)
    assert blur(images, 1.5).mean() == pytest.approx(images.mean(), abs=1e-3)
    region = np.zeros((32, 32), dtype=bool)
    region[8:24, 8:24] = True
    blob = histogram_blob(images[0], region, rng)
    np.testing.assert_array_equal(np.sort(blob[region]), np.sort(images[0][region]))
    np.testing.assert_array_equal(blob[~region], images[0][~region])


def test_the_rule_needs_a_clear_range_and_no_clear_reversal() -> None:
    noise = [np.random.default_rng(i).normal(0.0, 0.1, 20) for i in range(4)]
    steady = [x + v for x, v in zip(noise, [0.0, 1.0, 2.0, 3.0], strict=True)]
    assert verdict([0.0, 1.0, 2.0, 3.0], steady, UP, 2.0).passed
    assert not verdict([0.0, 1.0, 2.0, 3.0], steady, DOWN, 2.0).passed
    assert not verdict([0.0, 0.01, 0.02, 0.03], noise, UP, 2.0).passed  # within the noise
    assert not verdict([0.0, 2.0, 1.0, 3.0], noise, UP, 2.0).passed  # a clear step back
    assert verdict([0.0, 1.0, 0.99, 3.0], noise, UP, 2.0).passed  # a step back within noise


def test_the_robust_claims_hold_at_small_scale(sets: tuple[Slices, Slices, Context]) -> None:
    base, reference, context = sets
    extractor = random_projection(base.images.shape[-1])
    cells = run_suite(base, reference, context, extractor, SMALL)
    found = {(c.metric, c.damage): c for c in cells}
    for metric, damage in ROBUST:
        cell: Cell = found[metric, damage]
        assert cell.direction == CLAIMS[metric][damage]
        assert cell.verdict is not None and cell.verdict.passed, (cell.values, cell.verdict)
    table = verdict_table(cells)
    assert list(table.columns) == list(SMALL.damages)
    assert table.loc["FD", "blur"] == "pass" and table.loc["precision", "collapse"] == "-"
    assert {(c.metric, c.damage) for c in failures(cells)}.isdisjoint(ROBUST)


def test_the_feature_cache_matches_the_extractor_and_settings_are_checked(
    sets: tuple[Slices, Slices, Context],
) -> None:
    base, _, _ = sets
    extractor = random_projection(base.images.shape[-1])
    cache = FeatureCache(extractor)
    twice = np.concatenate([base.images[:5], base.images[:5]])
    # a 5-row and a 10-row matrix product may round differently on several threads
    torch.testing.assert_close(cache(twice), extractor(twice), rtol=1e-5, atol=1e-5)
    assert len(cache.known) == 5
    with pytest.raises(SettingError, match="damages"):
        SanitySettings(damages=("smudge",))
