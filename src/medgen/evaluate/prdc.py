"""Precision, recall, density and coverage of generated features (Naeem et al. 2020)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from medgen.evaluate.frechet import check_feature_sets

CHUNK = 1024  # rows of a distance matrix held at once: memory is CHUNK * max(N, M) floats


class PRDC(NamedTuple):
    """The four k-NN manifold metrics, with the k and the sample counts they were computed on."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int


def kth_neighbour_distance(x: Tensor, k: int, chunk: int = CHUNK) -> Tensor:
    """Distance from each row of x (N, D) to its k-th nearest other row: the k-NN ball radius."""
    radii = [
        torch.cdist(part, x).topk(k + 1, dim=1, largest=False).values[:, k]  # index 0 is itself
        for part in x.split(chunk)
    ]
    return torch.cat(radii)  # (N,)


def nearest_distance(query: Tensor, reference: Tensor, chunk: int = CHUNK) -> Tensor:
    """Distance from each row of query (M, D) to its nearest row of reference (N, D)."""
    parts = query.split(chunk)
    return torch.cat([torch.cdist(part, reference).min(dim=1).values for part in parts])


def prdc(real: Tensor, fake: Tensor, k: int = 5, chunk: int = CHUNK) -> PRDC:
    """Precision/recall by k-NN balls (Kynkäänniemi et al. 2019), density/coverage (Naeem 2020).

    real is (N, D), fake (M, D); 1 <= k < min(N, M). Strict inequalities as in the reference code
    (clovaai/generative-evaluation-prdc); distances in float64, chunked to bound memory.
    """
    check_feature_sets(real, fake, 2, "precision/recall/density/coverage")
    if not 1 <= k < min(real.shape[0], fake.shape[0]):
        raise ValueError(
            f"precision/recall needs 1 <= k < the size of each set, got k={k} with "
            f"{real.shape[0]} real and {fake.shape[0]} fake samples"
        )
    real, fake = real.double(), fake.double().to(real.device)
    r_real = kth_neighbour_distance(real, k, chunk)  # (N,)
    r_fake = kth_neighbour_distance(fake, k, chunk)  # (M,)
    in_real_balls = 0  # fakes inside at least one real ball
    ball_hits = 0  # (fake, real ball) pairs with the fake inside the ball
    recalled = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    nearest_fake = torch.full_like(r_real, torch.inf)
    for part, r_part in zip(fake.split(chunk), r_fake.split(chunk), strict=True):
        d = torch.cdist(real, part)  # (N, c)
        inside = d < r_real[:, None]
        in_real_balls += int(inside.any(dim=0).sum())
        ball_hits += int(inside.sum())
        recalled |= (d < r_part[None, :]).any(dim=1)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=1).values)
    n, m = real.shape[0], fake.shape[0]
    return PRDC(
        precision=in_real_balls / m,
        recall=float(recalled.double().mean()),
        density=ball_hits / (k * m),
        coverage=float((nearest_fake < r_real).double().mean()),
        k=k,
        n_real=n,
        n_fake=m,
    )
