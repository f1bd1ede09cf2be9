"""The comparison's numbers for one set of generated features against the real ones.

Reference sets (all real, all in the same feature space):
- `reference`: held-out slices the models never saw (the test split) — FD, KID and PRDC are
  measured against it, so a model that copies its training set gains nothing;
- `train`: the training split, for the memorisation check;
- `held_out`: other unseen slices (dev), whose distance to `train` is what an honest sample's
  distance looks like; the same set, scored as if it were a model, gives the table's floor row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from medgen.evaluate import (
    frechet_distance,
    half_sample_interval,
    half_sample_replicates,
    kernel_inception_distance,
    memorisation,
    prdc,
)
from medgen.evaluate.halfsample import Centre
from medgen.validate import in_range, random_seed, whole

FD_AND_PRDC = ("fd", "precision", "recall", "density", "coverage")
# how each interval is centred (medgen.evaluate.halfsample): FD's O(1/n) bias is removed; PRDC
# depends on the sample counts through its k-NN radii, so its target is its value at these counts
CENTRES: dict[str, Centre] = {
    "fd": "debiased",
    "precision": "at_sample_size",
    "recall": "at_sample_size",
    "density": "at_sample_size",
    "coverage": "at_sample_size",
}
RANGES = {  # where each metric can lie: a distance is never negative, a share never above 1
    "fd": (0.0, float("inf")),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "density": (0.0, float("inf")),
    "coverage": (0.0, 1.0),
}


@dataclass(frozen=True)
class MetricSettings:
    """How the numbers are computed; recorded next to them."""

    k: int = 5  # neighbours of the PRDC balls (Naeem et al. 2020 use 5)
    n_halves: int = 100  # half-sample replicates behind each interval
    level: float = 0.95
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # capped at half the smaller set
    memorisation_quantile: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        whole("k", self.k, 1)
        whole("n_halves", self.n_halves, 2)
        in_range("level", self.level, 0.0, 1.0, open_low=True, open_high=True)
        whole("kid_subsets", self.kid_subsets, 1)
        whole("kid_subset_size", self.kid_subset_size, 2)
        in_range(
            "memorisation_quantile",
            self.memorisation_quantile,
            0.0,
            1.0,
            open_low=True,
            open_high=True,
        )
        random_seed("seed", self.seed)


def interval(name: str, estimate: Any) -> dict[str, float]:
    """{name, name_low, name_high} from a half-sampling Estimate."""
    return {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}


def fd_and_prdc(fake: Tensor, reference: Tensor, settings: MetricSettings) -> dict[str, Any]:
    """FD, precision, recall, density and coverage of `fake` features against `reference`,
    each with its half-sampling interval (`name`, `name_low`, `name_high`), kept where the
    metric can lie.

    `row["half_samples"]` keeps each interval's replicates: every row made with one reference
    set and one seed shares its real halves, so two rows' replicates pair up for an interval
    of their difference (medgen.compare.summary).
    """
    # PRDC needs k < the size of a half set
    k = min(settings.k, reference.shape[0] // 2 - 1, fake.shape[0] // 2 - 1)

    def five(real: Tensor, gen: Tensor) -> tuple[float, ...]:
        return (frechet_distance(real, gen), *tuple(prdc(real, gen, k=k))[:4])

    halves = half_sample_replicates(
        five, reference, fake, n_halves=settings.n_halves, seed=settings.seed
    )  # (n_halves, 5)
    row: dict[str, Any] = {}
    for i, (name, value) in enumerate(zip(FD_AND_PRDC, five(reference, fake), strict=True)):
        estimate = half_sample_interval(value, halves[:, i], CENTRES[name], settings.level)
        row |= interval(name, estimate)
    for name, (floor, ceiling) in RANGES.items():  # an interval stays where its metric can be
        row[f"{name}_low"] = min(max(row[f"{name}_low"], floor), ceiling)
        row[f"{name}_high"] = min(max(row[f"{name}_high"], floor), ceiling)
    row["half_samples"] = {name: halves[:, i].tolist() for i, name in enumerate(FD_AND_PRDC)}
    row["prdc_k"] = float(k)
    return row


def quality_row(
    fake: Tensor,
    reference: Tensor,
    train: Tensor,
    held_out: Tensor,
    settings: MetricSettings,
) -> dict[str, Any]:
    """FD, KID, PRDC (with half-sampling intervals, `fd_and_prdc`) and memorisation of `fake`
    features (M, D)."""
    row = fd_and_prdc(fake, reference, settings)
    kid = kernel_inception_distance(
        reference,
        fake,
        subsets=settings.kid_subsets,
        subset_size=settings.kid_subset_size,
        seed=settings.seed,
    )
    row |= {"kid": kid.mean, "kid_std": kid.std, "kid_subset_size": float(kid.subset_size)}
    mem = memorisation(train, held_out, fake, quantile=settings.memorisation_quantile)
    row |= {
        "memorisation_ratio": mem.ratio,
        "fraction_closer": mem.fraction_closer,
        "fake_to_train": mem.fake_to_train,
    }
    row |= {"n_fake": float(fake.shape[0]), "n_reference": float(reference.shape[0])}
    return row
