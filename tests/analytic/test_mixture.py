"""GaussianMixture: parity with torch.distributions, Tweedie, extreme inputs, samples, examples."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from medgen.analytic import (
    EXAMPLES,
    GaussianMixture,
    grid_mixture_2d,
    ring_mixture_2d,
    seed_mixture_1d,
    thin_mixture,
)
from medgen.analytic import mixture as mixture_module

F64 = torch.float64


def random_mixture(
    d: int, cov_type: str, k: int = 3, sigma: float = 0.7, seed: int = 0
) -> GaussianMixture:
    """A random float64 mixture with well-separated-ish means and PD covariances of one type."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.rand(k, generator=g, dtype=F64) + 0.2  # unnormalised on purpose
    means = 2.0 * torch.randn(k, d, generator=g, dtype=F64)
    if cov_type == "full":
        a = torch.randn(k, d, d, generator=g, dtype=F64)
        covs = a @ a.mT / d + 0.1 * torch.eye(d, dtype=F64)
    elif cov_type == "diag":
        covs = 0.1 + torch.rand(k, d, generator=g, dtype=F64)
    else:
        covs = 0.1 + torch.rand(k, generator=g, dtype=F64)
    return GaussianMixture(weights, means, covs, sigma)


def reference(m: GaussianMixture, t: float) -> MixtureSameFamily:
    """The same mixture at time t as a torch.distributions object."""
    comp = MultivariateNormal(m.means, covariance_matrix=m.component_covariances(t))
    return MixtureSameFamily(Categorical(probs=m.weights), comp)


def points(m: GaussianMixture, n: int = 64, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return m.sample(n, 0.5, generator=g) + torch.randn(n, m.dim, generator=g, dtype=m.dtype)


CASES = [(d, c) for d in (1, 2, 5) for c in ("full", "diag", "iso")]


# ---- parity with torch.distributions ---------------------------------------------------------


@pytest.mark.parametrize(("d", "cov_type"), CASES)
@pytest.mark.parametrize("t", [0.0, 0.3, 2.0])
def test_log_prob_and_score_match_torch_distributions(d: int, cov_type: str, t: float) -> None:
    m = random_mixture(d, cov_type)
    ref = reference(m, t)
    x = points(m).requires_grad_(True)
    ref_log_prob = ref.log_prob(x)
    (ref_score,) = torch.autograd.grad(ref_log_prob.sum(), x)
    x = x.detach()
    torch.testing.assert_close(m.log_prob(x, t), ref_log_prob.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(m.score(x, t), ref_score, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("cov_type", ["full", "diag", "iso"])
def test_per_sample_times_match_scalar_times(cov_type: str) -> None:
    m = random_mixture(3, cov_type)
    x = points(m, n=5)
    t = torch.tensor([0.0, 0.1, 0.5, 1.0, 7.0], dtype=F64)
    rows = [m.score(x[i : i + 1], float(t[i])) for i in range(5)]
    torch.testing.assert_close(m.score(x, t), torch.cat(rows), rtol=1e-12, atol=1e-12)
    lp = torch.cat([m.log_prob(x[i : i + 1], float(t[i])) for i in range(5)])
    torch.testing.assert_close(m.log_prob(x, t), lp, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("d", "cov_type"), CASES)
def test_denoiser_satisfies_tweedie(d: int, cov_type: str) -> None:
    m = random_mixture(d, cov_type)
    unit = GaussianMixture(m.weights, m.means, m.covs, sigma=1.0)
    x = points(m)
    for s in (0.05, 0.8, 3.0):
        tweedie = x + s**2 * unit.score_at_noise(x, s)
        torch.testing.assert_close(unit.denoiser(x, s), tweedie, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(unit.score(x, s**2), unit.score_at_noise(x, s))
    torch.testing.assert_close(m.denoiser(x, 0.0), x)  # no noise: nothing to remove


def test_denoiser_of_one_gaussian_is_the_posterior_mean() -> None:
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64)
    mu = torch.tensor([[1.0, -1.0]], dtype=F64)
    m = GaussianMixture(torch.ones(1, dtype=F64), mu, cov[None])
    x = points(m, n=8)
    s = torch.linspace(0.1, 2.0, 8, dtype=F64)  # one noise level per row
    expected = torch.stack(
        [
            mu[0] + cov @ torch.linalg.solve(cov + si**2 * torch.eye(2, dtype=F64), xi - mu[0])
            for xi, si in zip(x, s, strict=True)
        ]
    )
    torch.testing.assert_close(m.denoiser(x, s), expected, rtol=1e-12, atol=1e-12)


def test_marginal_shifts_time() -> None:
    m = random_mixture(2, "full")
    x = points(m)
    m1 = m.marginal(0.4)
    torch.testing.assert_close(m1.log_prob(x), m.log_prob(x, 0.4))
    torch.testing.assert_close(m1.score(x, 0.6), m.score(x, 1.0))
    assert m1.cov_type == "full" and m.marginal(0.4).sigma == m.sigma


def test_dtype_follows_input_and_to() -> None:
    m = random_mixture(2, "diag")
    x = points(m)
    assert m.score(x.float(), 0.5).dtype == torch.float32
    assert m.denoiser(x.float(), 0.5).dtype == torch.float32
    m32 = m.to(torch.float32)
    assert m32.dtype == torch.float32 and m32.sample(4).dtype == torch.float32
    torch.testing.assert_close(m32.score(x.float(), 0.5), m.score(x, 0.5).float())


def test_chunked_evaluation_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    m = random_mixture(3, "full")
    x = points(m, n=50)
    t = torch.rand(50, dtype=F64)
    whole = (m.score(x, t), m.log_prob(x, t), m.denoiser(x, t))
    monkeypatch.setattr(mixture_module, "_CHUNK_ELEMENTS", 3 * 3 * 7)  # 7 rows per chunk
    for a, b in zip(whole, (m.score(x, t), m.log_prob(x, t), m.denoiser(x, t)), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="means"):
        GaussianMixture(torch.ones(2), torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture(torch.ones(2), torch.zeros(2, 3), torch.ones(2, 2))
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(torch.tensor([1.0, -1.0]), torch.zeros(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture(torch.ones(2), torch.zeros(2, 3), torch.tensor([1.0, 0.0]))
    m = seed_mixture_1d()
    with pytest.raises(ValueError, match="x must be"):
        m.score(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="t must be"):
        m.score(torch.zeros(4, 1), -1.0)


# ---- extreme x and t ---------------------------------------------------------------------


def naive_ratio_score(m: GaussianMixture, x: Tensor, t: float) -> Tensor:
    """The textbook sum_j w_j N_j grad log N_j / sum_j w_j N_j with raw densities (0/0 far out)."""
    c = m.component_covariances(t).to(x.dtype)  # (K, d, d)
    diff = x[:, None, :] - m.means.to(x.dtype)  # (B, K, d)
    prec_diff = torch.linalg.solve(c[:, None], diff.transpose(0, 1)[..., None])[..., 0]  # (K, B, d)
    quad = (diff.transpose(0, 1) * prec_diff).sum(-1)  # (K, B)
    dens = torch.exp(-0.5 * quad) / torch.sqrt(torch.linalg.det(2 * math.pi * c))[:, None]
    wd = m.weights.to(x.dtype)[:, None] * dens  # (K, B)
    return (wd[..., None] * -prec_diff).sum(0) / wd.sum(0)[:, None]


EXTREME_T = [0.0, 1e-3, 1.0, 1e4]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cov_type", ["full", "diag", "iso"])
def test_single_component_score_is_exact_far_away(dtype: torch.dtype, cov_type: str) -> None:
    m = random_mixture(3, cov_type, k=1).to(dtype)
    g = torch.Generator().manual_seed(3)
    direction = torch.nn.functional.normalize(torch.randn(6, 3, generator=g, dtype=F64), dim=1)
    x = direction * torch.tensor([1e6, 1e5, 1e3, 1.0, 1e4, 1e6], dtype=F64)[:, None]
    for t in EXTREME_T:
        c = m.component_covariances(t).double()[0]
        expected = -torch.linalg.solve(c, (x - m.means.double()).T).T
        got = m.score(x.to(dtype), t)
        assert torch.isfinite(got).all() and torch.isfinite(m.log_prob(x.to(dtype), t)).all()
        rtol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_far_from_a_mixture_the_dominant_component_wins(dtype: torch.dtype) -> None:
    m = random_mixture(2, "full", k=4).to(dtype)
    g = torch.Generator().manual_seed(4)
    direction = torch.nn.functional.normalize(torch.randn(32, 2, generator=g, dtype=F64), dim=1)
    # far enough that |x|^2 / (S_j + sigma^2 t) is huge: one component carries all the mass
    for t, radius in [(0.0, 1e4), (0.0, 1e6), (1e-3, 1e6), (1.0, 1e4), (1e4, 1e6)]:
        x = (radius * direction).to(dtype)
        got = m.score(x, t)
        assert torch.isfinite(got).all() and torch.isfinite(m.denoiser(x, 1e2)).all()
        c = m.component_covariances(t).double()  # (K, d, d)
        diff = x.double()[:, None, :] - m.means.double()  # (B, K, d)
        prec_diff = torch.linalg.solve(c, diff.unsqueeze(-1)).squeeze(-1)  # (B, K, d)
        log_n = -0.5 * ((diff * prec_diff).sum(-1) + torch.logdet(c))  # up to a constant
        best = (log_n + torch.log(m.weights.double())).argmax(-1)  # nearest in Mahalanobis
        expected = -prec_diff[torch.arange(len(x)), best]
        rtol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ratio_of_densities_is_nan_where_log_sum_exp_is_not(dtype: torch.dtype) -> None:
    m = random_mixture(2, "diag").to(dtype)
    x = torch.tensor([[1e6, -1e6], [3e4, 2e4], [1e3, 0.0]], dtype=dtype)
    naive = naive_ratio_score(m, x, 0.0)
    assert torch.isnan(naive).all()  # every density underflows to 0: 0/0
    assert torch.isfinite(m.score(x, 0.0)).all()
    near = points(m.to(dtype), n=16)  # where densities are representable the two agree
    torch.testing.assert_close(naive_ratio_score(m, near, 0.5), m.score(near, 0.5))


# ---- samples -----------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", ["full", "diag", "iso"])
def test_sample_moments_match_the_mixture(cov_type: str) -> None:
    m = random_mixture(2, cov_type)
    n, t = 200_000, 0.5
    x = m.sample(n, t, generator=torch.Generator().manual_seed(5))
    cov = m.covariance(t)
    se = torch.sqrt(torch.diagonal(cov) / n)
    assert ((x.mean(0) - m.mean).abs() < 5 * se).all()
    torch.testing.assert_close(
        torch.cov(x.T), cov, rtol=0.02, atol=0.02 * float(cov.diagonal().max())
    )
    assert x.shape == (n, 2) and x.dtype == F64


def test_sampling_is_reproducible_with_a_generator() -> None:
    m = random_mixture(3, "full")
    a = m.sample(100, 0.2, generator=torch.Generator().manual_seed(9))
    b = m.sample(100, 0.2, generator=torch.Generator().manual_seed(9))
    c = m.sample(100, 0.2, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.equal(a, c)
    t = torch.full((100,), 0.2, dtype=F64)
    assert torch.equal(m.sample(100, t, generator=torch.Generator().manual_seed(9)), a)


# ---- the named examples ------------------------------------------------------------------


def test_examples() -> None:
    seed = seed_mixture_1d(dtype=F64)
    assert (seed.dim, seed.n_components) == (1, 3)
    torch.testing.assert_close(seed.covs, torch.tensor([0.16, 0.64, 0.09], dtype=F64))
    grid = grid_mixture_2d()
    assert (grid.dim, grid.n_components) == (2, 25) and grid.dtype == torch.get_default_dtype()
    assert set(grid.means.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    ring = ring_mixture_2d(n_modes=6, radius=2.0)
    torch.testing.assert_close(ring.means.norm(dim=1), torch.full((6,), 2.0))
    thin = thin_mixture(d=16, k=25, dtype=F64)
    lam = torch.linalg.eigvalsh(thin.covs)  # (K, d), ascending
    torch.testing.assert_close(
        lam[:, :14], torch.full((25, 14), 1e-6, dtype=F64), rtol=1e-6, atol=0
    )
    torch.testing.assert_close(lam[:, 14:], torch.ones(25, 2, dtype=F64))
    assert set(EXAMPLES) == {"seed_1d", "grid_2d", "ring_2d", "thin"}


def test_thin_mixture_score_matches_reference_and_is_fast() -> None:
    thin = thin_mixture(d=16, k=25, dtype=F64)
    x = thin.sample(4_000, 0.01, generator=torch.Generator().manual_seed(2))
    ref = reference(thin, 0.01)
    xg = x[:64].clone().requires_grad_(True)
    (ref_score,) = torch.autograd.grad(ref.log_prob(xg).sum(), xg)
    torch.testing.assert_close(thin.score(x[:64], 0.01), ref_score, rtol=1e-7, atol=1e-7)
    assert torch.isfinite(thin.score(x, torch.rand(4_000, dtype=F64))).all()


def test_thin_mixture_in_float32_keeps_its_thin_directions() -> None:
    m64, m32 = thin_mixture(dtype=F64), thin_mixture(dtype=torch.float32)
    x = m64.sample(1_000, 0.0, generator=torch.Generator().manual_seed(6)).float()
    for t in (0.0, 1e-4):
        exact = m64.score(x.double(), t)
        rel = (m32.score(x, t).double() - exact).norm(dim=1) / exact.norm(dim=1)
        assert float(rel.max()) < 1e-3  # the 1e-6 variances survive a float32 mixture
