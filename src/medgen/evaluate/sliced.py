"""Sliced Wasserstein-1 distance between two sample sets, with reproducible projections."""

from __future__ import annotations

import torch
from torch import Tensor


def _w1_sorted(pa: Tensor, pb: Tensor) -> Tensor:
    """1-D W1 = int_0^1 |F_a^-1(u) - F_b^-1(u)| du per column of sorted (n, P) and (m, P)."""
    n, m = pa.shape[0], pb.shape[0]
    f64 = torch.float64
    u = torch.cat([torch.arange(1, n + 1, dtype=f64) / n, torch.arange(1, m + 1, dtype=f64) / m])
    u = u.unique(sorted=True)  # breakpoints of both quantile functions, ending at 1
    widths = torch.diff(u, prepend=u.new_zeros(1))
    mid = (u - widths / 2).to(pa.device)
    ia = (mid * n).floor().long().clamp(max=n - 1)  # F^-1 is constant on ((k-1)/n, k/n]
    ib = (mid * m).floor().long().clamp(max=m - 1)
    return (widths.to(pa.device)[:, None] * (pa[ia] - pb[ib]).abs()).sum(dim=0)


def sliced_wasserstein_1(
    a: Tensor,
    b: Tensor,
    n_projections: int = 256,
    generator: torch.Generator | None = None,
) -> float:
    """Mean 1-D W1 of a and b projected on random unit directions (Rabin et al. 2011).

    a is (n, ...) and b is (m, ...) with the same trailing shape; sizes may differ. The directions
    come from `generator` (a CPU generator), or from seed 0 when it is None, so that repeated calls
    compare sample sets on the same projections.
    """
    a, b = a.flatten(1).double(), b.flatten(1).double()  # (n, d), (m, d)
    if a.shape[1] != b.shape[1] or a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError(f"need non-empty samples of one dimension, got {a.shape} and {b.shape}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    directions = torch.randn(a.shape[1], n_projections, generator=generator, dtype=torch.float64)
    directions = (directions / directions.norm(dim=0)).to(a.device)  # (d, P)
    pa = (a @ directions).sort(dim=0).values  # (n, P)
    pb = (b @ directions).sort(dim=0).values  # (m, P)
    return float(_w1_sorted(pa, pb).mean())
