"""The suite of exact mixtures: deterministic per seed, parts disjoint, the promised span."""

from __future__ import annotations

import math

import pytest
import torch

from medgen.analytic.suite import (
    FULL_COV_MAX_DIM,
    IMAGE_DIM,
    KINDS,
    MAX_COMPONENTS,
    MAX_WEIGHT_RATIO,
    held_out_seeds,
    make_problem,
    suite,
    tuning_seeds,
)

ALL = suite("tuning") + suite("held_out")


def test_a_seed_gives_the_same_problem_every_time() -> None:
    for seed in (0, 7, 10_011):
        a, b = make_problem(seed), make_problem(seed)
        assert a.name == b.name
        for field in ("weights", "means", "covs"):
            torch.testing.assert_close(getattr(a.mixture, field), getattr(b.mixture, field))
    assert make_problem(0).name != make_problem(1).name


def test_parts_are_disjoint_and_at_least_40_each() -> None:
    tuning, held_out = tuning_seeds(), held_out_seeds()
    assert len(tuning) >= 40 and len(held_out) >= 40
    assert not set(tuning) & set(held_out)
    assert [p.seed for p in suite("held_out")] == held_out
    with pytest.raises(ValueError, match="part"):
        suite("test")


def test_the_suite_spans_kinds_dimensions_components_weights_and_separations() -> None:
    assert {p.kind for p in ALL} == set(KINDS)
    dims = [p.mixture.dim for p in ALL if p.kind != "image"]
    assert min(dims) == 1 and max(dims) > 128
    assert all(p.mixture.dim == IMAGE_DIM for p in ALL if p.kind == "image")
    ks = [p.mixture.n_components for p in ALL]
    assert min(ks) == 1 and MAX_COMPONENTS / 2 < max(ks) <= MAX_COMPONENTS
    ratios = [float(p.mixture.weights.max() / p.mixture.weights.min()) for p in ALL]
    assert min(ratios) < 1.5 and 30 < max(ratios) <= MAX_WEIGHT_RATIO * (1 + 1e-9)
    seps = [p.separation for p in ALL if p.mixture.n_components > 1]
    assert min(seps) < 1 and max(seps) > 30


def test_separation_is_the_median_nearest_mean_distance_in_component_stds() -> None:
    for p in [p for p in ALL if p.mixture.n_components > 1 and p.mixture.dim <= 64][:12]:
        m = p.mixture
        gaps = torch.cdist(m.means, m.means) + torch.diag(torch.full((m.n_components,), math.inf))
        largest_std = float(torch.linalg.eigvalsh(m.component_covariances()).max().sqrt())
        assert float(gaps.min(1).values.quantile(0.5)) == pytest.approx(p.separation)
        assert largest_std == pytest.approx(1.0) or (p.kind == "isotropic" and largest_std <= 1)


@pytest.mark.parametrize("kind", ["anisotropic", "low_rank"])
def test_component_spectra_match_their_kind(kind: str) -> None:
    for p in [p for p in ALL if p.kind == kind and p.mixture.dim <= FULL_COV_MAX_DIM][:4]:
        lam = torch.linalg.eigvalsh(p.mixture.component_covariances())  # (K, d) ascending
        assert torch.allclose(lam[:, -1], torch.ones_like(lam[:, -1]))
        if kind == "anisotropic":
            assert float((lam[:, -1] / lam[:, 0]).max()) <= 1e4 * (1 + 1e-6)
        else:  # rank k < d of unit variance, eps^2 <= 1e-4 elsewhere
            assert float(lam[:, 0].max()) <= 1e-4 + 1e-12
            assert int((lam[0] > 0.5).sum()) < p.mixture.dim
