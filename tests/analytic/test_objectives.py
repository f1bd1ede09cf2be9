"""J_naive and J_dsm on an exact mixture: a theta-free constant apart, with the same gradients."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from medgen.analytic import (
    GaussianMixture,
    WeightFn,
    draw,
    dsm_constant,
    dsm_terms,
    j_dsm,
    j_naive,
    naive_terms,
    unit_weight,
)
from medgen.analytic.objectives import constant_terms

F64 = torch.float64
N = 200_000


def mixture_2d(sigma: float = 1.5) -> GaussianMixture:
    """Three 2-D components with full covariances of different shapes."""
    means = torch.tensor([[-2.0, 0.0], [1.5, 1.0], [0.5, -2.0]], dtype=F64)
    covs = torch.tensor(
        [[[0.3, 0.1], [0.1, 0.2]], [[0.5, -0.2], [-0.2, 0.4]], [[0.1, 0.0], [0.0, 0.6]]],
        dtype=F64,
    )
    return GaussianMixture(torch.tensor([0.5, 0.3, 0.2], dtype=F64), means, covs, sigma)


class TinyScore(nn.Module):
    """s_theta(x, t): a small MLP on (x, t), or a linear map when hidden == 0."""

    def __init__(self, seed: int, hidden: int = 16, d: int = 2) -> None:
        super().__init__()
        torch.manual_seed(seed)
        if hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(d + 1, hidden), nn.Tanh(), nn.Linear(hidden, d)
            )
        else:
            self.net = nn.Linear(d + 1, d)
        self.double()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(torch.cat([x, t[:, None]], dim=1))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sigma2_t(sigma: float) -> WeightFn:
    """lambda(t) = sigma^2 t, the weighting that makes the DSM target of unit variance."""
    return lambda t: sigma**2 * t


MODELS = [TinyScore(0), TinyScore(1), TinyScore(2, hidden=32), TinyScore(3, hidden=0)]


def test_naive_objective_of_the_exact_score_is_zero() -> None:
    m = mixture_2d()
    assert float(j_naive(m.score, m, n=1_000, generator=gen(0))) == 0.0
    assert float(j_dsm(m.score, m, n=1_000, generator=gen(0))) > 0.0


def test_draws_are_reproducible_and_samples_of_p_t() -> None:
    m = mixture_2d()
    a = draw(m, n=N, generator=gen(1), t_min=0.5, t_max=0.5)
    b = draw(m, n=N, generator=gen(1), t_min=0.5, t_max=0.5)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    cov = m.covariance(0.5)
    assert ((a.x.mean(0) - m.mean).abs() < 5 * torch.sqrt(cov.diagonal() / N)).all()
    torch.testing.assert_close(torch.cov(a.x.T), cov, rtol=0.02, atol=0.02)
    torch.testing.assert_close(a.x, a.x0 + m.sigma * torch.sqrt(a.t)[:, None] * a.eps)


def test_public_objectives_use_common_random_numbers() -> None:
    m, f = mixture_2d(), MODELS[0]
    d = draw(m, n=1_000, generator=gen(2))
    with torch.no_grad():
        torch.testing.assert_close(
            j_naive(f, m, n=1_000, generator=gen(2)), naive_terms(f, m, d).mean()
        )
        torch.testing.assert_close(
            j_dsm(f, m, n=1_000, generator=gen(2)), dsm_terms(f, m, d).mean()
        )
        doubled = j_dsm(f, m, n=1_000, generator=gen(2), weight=lambda t: 2.0)
        torch.testing.assert_close(doubled, 2 * dsm_terms(f, m, d, unit_weight).mean())


@pytest.mark.parametrize(("weight_name", "t_min"), [("unit", 1e-2), ("sigma2_t", 1e-3)])
def test_naive_minus_dsm_is_constant_in_theta(weight_name: str, t_min: float) -> None:
    m = mixture_2d()
    weight = unit_weight if weight_name == "unit" else sigma2_t(m.sigma)
    d = draw(m, n=N, generator=gen(3), t_min=t_min)  # one draw for every theta: common numbers
    with torch.no_grad():
        naive = [naive_terms(f, m, d, weight) for f in MODELS]
        diffs = [a - dsm_terms(f, m, d, weight) for a, f in zip(naive, MODELS, strict=True)]
        j = torch.stack([a.mean() for a in naive])
        # theta-free: for every pair of models, the paired per-sample difference has mean ~0
        for other in diffs[1:]:
            paired = other - diffs[0]
            assert abs(float(paired.mean())) < 4 * float(paired.std()) / N**0.5
        # ...while J itself moves with theta by far more than that tolerance
        assert float(j.max() - j.min()) > 100 * float((diffs[1] - diffs[0]).std()) / N**0.5
        # and the constant is the analytic one, estimated on an independent draw
        c_terms = constant_terms(m, draw(m, n=N, generator=gen(4), t_min=t_min), weight)
        c = dsm_constant(m, n=N, generator=gen(4), weight=weight, t_min=t_min)
        torch.testing.assert_close(c, c_terms.mean())
        for diff in diffs:
            se = (float(diff.var()) / N + float(c_terms.var()) / N) ** 0.5
            assert abs(float(diff.mean() + c)) < 4 * se


@pytest.mark.parametrize("index", range(len(MODELS)))
def test_naive_and_dsm_gradients_agree(index: int) -> None:
    m, f = mixture_2d(), MODELS[index]
    weight = sigma2_t(m.sigma)
    params = list(f.parameters())
    n = 50_000  # the DSM gradient noise is small next to the signal with lambda = sigma^2 t
    g_naive = torch.autograd.grad(j_naive(f, m, n=n, generator=gen(5), weight=weight), params)
    g_dsm = torch.autograd.grad(j_dsm(f, m, n=n, generator=gen(5), weight=weight), params)
    a, b = torch.cat([g.flatten() for g in g_naive]), torch.cat([g.flatten() for g in g_dsm])
    assert float(torch.nn.functional.cosine_similarity(a, b, dim=0)) > 0.99


def test_bad_time_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="t_min"):
        draw(mixture_2d(), n=10, t_min=0.0)
