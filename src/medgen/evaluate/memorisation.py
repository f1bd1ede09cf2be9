"""Memorisation check: are generated samples nearer the training set than held-out data?"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from medgen.evaluate.frechet import check_feature_sets
from medgen.evaluate.prdc import nearest_distance


class Memorisation(NamedTuple):
    """Nearest-training-neighbour distances of generated vs held-out real samples."""

    fake_to_train: float  # median distance of a generated sample to its nearest training sample
    held_out_to_train: float  # the same for held-out real samples
    ratio: float  # fake_to_train / held_out_to_train: well below 1 suggests copying
    fraction_closer: float  # generated samples nearer than the held-out `quantile` distance


def memorisation(
    train: Tensor, held_out: Tensor, fake: Tensor, quantile: float = 0.05
) -> Memorisation:
    """Compare nearest-train distances of fake (M, D) and held-out (H, D) samples to train (N, D).

    A model that copies its training data puts generated samples much nearer the training set than
    unseen real data lies; fraction_closer is about `quantile` for a model that does not copy.
    """
    check_feature_sets(train, held_out, 1, "memorisation (train vs held-out)")
    check_feature_sets(train, fake, 1, "memorisation (train vs generated)")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"memorisation needs a quantile in (0, 1), got {quantile}")
    train = train.double()
    d_fake = nearest_distance(fake.double().to(train.device), train)  # (M,)
    d_held = nearest_distance(held_out.double().to(train.device), train)  # (H,)
    fake_median, held_median = float(d_fake.median()), float(d_held.median())
    threshold = torch.quantile(d_held, quantile)
    return Memorisation(
        fake_to_train=fake_median,
        held_out_to_train=held_median,
        ratio=fake_median / held_median if held_median > 0 else float("nan"),
        fraction_closer=float((d_fake < threshold).double().mean()),
    )
