"""A seeded suite of exact Gaussian-mixture problems, split by seed into tuning and held-out parts.

Each seed deterministically draws one problem p_0 = sum_j w_j N(mu_j, S_j), whose exact denoiser is
`problem.mixture.denoiser`: dimension d from 1 to 256 (1,024 for the image-like kind), K from 1 to
50 components, weights from equal to a max/min ratio of 100, and nearest-mean distances from
overlapping (0.5) to 50 component stds. The kinds are

- "isotropic": S_j = s_j^2 I;
- "anisotropic": S_j = U_j diag(lam_j) U_j^T with condition number lam_max / lam_min up to 1e4;
- "low_rank": S_j of rank k < d (unit variance on k directions) plus eps^2 I, eps from 1e-3 to 1e-2;
- "image": low-rank components in 1,024 dimensions (k from 2 to 16).

The draw is stratified by seed so that every part meets every regime: seed % CELLS picks the
cell, one of the three kinds in one of the DIMENSION_BANDS, or the image-like kind (the last
cell). A draw of the kind alone once left the tuning part without a single isotropic problem of
d > 40 with overlapping modes, the regime the held-out part then found hardest.

The eigenvectors U_j are random rotations up to d = FULL_COV_MAX_DIM and random coordinate subsets
above it: the PF-ODE with isotropic noise and the sliced distance over random directions are both
rotation-equivariant, so a diagonal S_j in a shared basis loses nothing but the relative
orientation of the components, and keeps the exact denoiser O(B K d) instead of O(B K d^2).
Seeds below HELD_OUT_START form the tuning part, seeds from it the held-out part.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from medgen.analytic.mixture import GaussianMixture

KINDS = ("isotropic", "anisotropic", "low_rank", "image")
MAX_DIM, IMAGE_DIM = 256, 1024  # d of the first three kinds is at most MAX_DIM
DIMENSION_BANDS = ((1, 8), (9, 48), (49, MAX_DIM))  # d is log-uniform within its band
CELLS = 3 * len(DIMENSION_BANDS) + 1  # (kind, band) for the first three kinds, then image
MAX_COMPONENTS = 50  # K is log-uniform in [1, MAX_COMPONENTS]
MAX_WEIGHT_RATIO = 100.0  # w_max / w_min is log-uniform in [1, MAX_WEIGHT_RATIO]
SEPARATION = (0.5, 50.0)  # median nearest-mean distance, in component stds (log-uniform)
MAX_CONDITION = 1e4  # lam_max / lam_min of anisotropic components (log-uniform from 10)
THIN_STD = (1e-3, 1e-2)  # std eps across a low-rank component (log-uniform)
FULL_COV_MAX_DIM = 32  # random rotations U_j up to this d, coordinate subsets above
HELD_OUT_START = 10_000  # seeds >= this are held out
PART_SIZE = 48  # problems per part by default


class Problem(NamedTuple):
    """One suite problem: its seed, kind, a short description and the exact mixture."""

    seed: int
    kind: str
    name: str
    mixture: GaussianMixture
    separation: float  # median nearest-mean distance; each component's largest std is 1 (iso <= 1)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _log_uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    return min(high, math.floor(_log_uniform(rng, low, high + 1)))


def _weights(rng: np.random.Generator, k: int) -> np.ndarray:
    """w_j = ratio^u_j with u spread over [0, 1]: max/min is exactly `ratio` for K >= 2."""
    ratio = _log_uniform(rng, 1.0, MAX_WEIGHT_RATIO)
    u = rng.uniform(size=k)
    if k >= 2:
        u[:2] = (0.0, 1.0)
    return np.asarray(ratio**u / np.sum(ratio**u))


def _means(rng: np.random.Generator, k: int, d: int, distance: float) -> np.ndarray:
    """K random means scaled so that their median nearest-mean distance is `distance`, (K, d)."""
    means = rng.standard_normal((k, d))
    if k == 1:
        return means
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.diag(np.full(k, np.inf))
    return np.asarray(means * distance / np.median(gaps.min(axis=1)))


def _rotate(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """U_j diag(lam_j) U_j^T for random rotations U_j (K, d, d); lam (K, d)."""
    k, d = lam.shape
    q, r = np.linalg.qr(rng.standard_normal((k, d, d)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    covs = q @ (lam[:, :, None] * q.transpose(0, 2, 1))
    return np.asarray(0.5 * (covs + covs.transpose(0, 2, 1)))


def _spectra(rng: np.random.Generator, kind: str, k: int, d: int) -> np.ndarray:
    """Eigenvalues lam_j (K, d) of the components, largest 1 (isotropic: s_j^2 in [0.25, 1])."""
    if kind == "isotropic":
        return np.repeat(rng.uniform(0.25, 1.0, size=(k, 1)), d, axis=1)
    if kind == "anisotropic":
        condition = _log_uniform(rng, 10.0, MAX_CONDITION)
        lam = condition ** -rng.uniform(size=(k, d))
        lam[:, 0] = 1.0
        return np.asarray(lam)
    rank = _log_uniform_int(rng, 2, 16) if kind == "image" else _log_uniform_int(rng, 1, d - 1)
    eps = _log_uniform(rng, *THIN_STD)
    lam = np.full((k, d), eps**2)
    for j in range(k):  # each component its own k directions of unit variance
        lam[j, rng.permutation(d)[:rank]] = 1.0
    return lam


def _cell(seed: int) -> tuple[str, tuple[int, int]]:
    """The kind and dimension band of `seed`'s stratum."""
    cell = seed % CELLS
    if cell == CELLS - 1:
        return "image", (IMAGE_DIM, IMAGE_DIM)
    return KINDS[cell // len(DIMENSION_BANDS)], DIMENSION_BANDS[cell % len(DIMENSION_BANDS)]


def _dimension(rng: np.random.Generator, kind: str, band: tuple[int, int]) -> int:
    """d log-uniform in the band; at least 2 where a component needs two directions."""
    low, high = band
    return _log_uniform_int(rng, max(low, 1 if kind == "isotropic" else 2), high)


def make_problem(seed: int, dtype: torch.dtype = torch.float64) -> Problem:
    """The suite's problem for `seed`: the same mixture on every call and every machine."""
    rng = np.random.default_rng(seed)
    kind, band = _cell(seed)
    d = _dimension(rng, kind, band)
    k = (
        _log_uniform_int(rng, 2, 10)
        if kind == "image"
        else _log_uniform_int(rng, 1, MAX_COMPONENTS)
    )
    separation = _log_uniform(rng, *SEPARATION)
    weights = _weights(rng, k)
    lam = _spectra(rng, kind, k, d)
    means = _means(rng, k, d, separation)  # largest component std is 1 (isotropic: <= 1)
    if kind == "isotropic":
        covs = lam[:, 0]
    elif d <= FULL_COV_MAX_DIM and d > 1:
        covs = _rotate(rng, lam)
    else:
        covs = lam
    mixture = GaussianMixture(
        torch.as_tensor(weights), torch.as_tensor(means), torch.as_tensor(covs)
    ).to(dtype)
    ratio = float(weights.max() / weights.min())
    name = f"{kind} d={d} K={k} sep={separation:.3g} w={ratio:.3g}"
    return Problem(seed, kind, name, mixture, separation)


def tuning_seeds(n: int = PART_SIZE) -> list[int]:
    """Seeds of the tuning part: 0, ..., n - 1."""
    if not 0 < n <= HELD_OUT_START:
        raise ValueError(f"n must be in [1, {HELD_OUT_START}], got {n}")
    return list(range(n))


def held_out_seeds(n: int = PART_SIZE) -> list[int]:
    """Seeds of the held-out part: HELD_OUT_START, ..., HELD_OUT_START + n - 1."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return list(range(HELD_OUT_START, HELD_OUT_START + n))


def suite(part: str, n: int = PART_SIZE, dtype: torch.dtype = torch.float64) -> list[Problem]:
    """The n problems of part "tuning" or "held_out"."""
    parts = {"tuning": tuning_seeds, "held_out": held_out_seeds}
    if part not in parts:
        raise ValueError(f"part must be one of {', '.join(parts)}, got {part!r}")
    return [make_problem(seed, dtype) for seed in parts[part](n)]
