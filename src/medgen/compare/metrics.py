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

import torch
from torch import Tensor

from medgen.evaluate import (
    bootstrap_ci,
    bootstrap_many,
    frechet_distance,
    kernel_inception_distance,
    memorisation,
    prdc,
)

PRDC_FIELDS = ("precision", "recall", "density", "coverage")


@dataclass(frozen=True)
class MetricSettings:
    """How the numbers are computed; recorded next to them."""

    k: int = 5  # neighbours of the PRDC balls (Naeem et al. 2020 use 5)
    n_boot: int = 50  # bootstrap replicates of each interval
    level: float = 0.95
    kid_subsets: int = 100
    kid_subset_size: int = 1000  # capped at the smaller set
    memorisation_quantile: float = 0.05
    seed: int = 0


def interval(name: str, estimate: Any) -> dict[str, float]:
    """{name, name_low, name_high} from a bootstrap Estimate."""
    return {name: estimate.value, f"{name}_low": estimate.low, f"{name}_high": estimate.high}


def quality_row(
    fake: Tensor,
    reference: Tensor,
    train: Tensor,
    held_out: Tensor,
    settings: MetricSettings,
) -> dict[str, Any]:
    """FD, KID, PRDC (with bootstrap intervals) and memorisation of `fake` features (M, D)."""
    row: dict[str, Any] = {}
    generator = torch.Generator().manual_seed(settings.seed)

    def boot(metric: Any) -> Any:
        return bootstrap_ci(
            metric,
            reference,
            fake,
            n_boot=settings.n_boot,
            level=settings.level,
            generator=generator,
        )

    row |= interval("fd", boot(frechet_distance))
    kid = kernel_inception_distance(
        reference,
        fake,
        subsets=settings.kid_subsets,
        subset_size=settings.kid_subset_size,
        seed=settings.seed,
    )
    row |= {"kid": kid.mean, "kid_std": kid.std, "kid_subset_size": float(kid.subset_size)}
    k = min(settings.k, reference.shape[0] - 1, fake.shape[0] - 1)

    def four(real: Tensor, gen: Tensor) -> tuple[float, ...]:
        return tuple(prdc(real, gen, k=k))[: len(PRDC_FIELDS)]

    estimates = bootstrap_many(
        four, reference, fake, n_boot=settings.n_boot, level=settings.level, generator=generator
    )
    for name, estimate in zip(PRDC_FIELDS, estimates, strict=True):
        row |= interval(name, estimate)
    row["prdc_k"] = float(k)
    mem = memorisation(train, held_out, fake, quantile=settings.memorisation_quantile)
    row |= {
        "memorisation_ratio": mem.ratio,
        "fraction_closer": mem.fraction_closer,
        "fake_to_train": mem.fake_to_train,
    }
    row |= {"n_fake": float(fake.shape[0]), "n_reference": float(reference.shape[0])}
    return row
