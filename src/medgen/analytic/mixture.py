"""The exact Gaussian mixture under dx = sigma dW: density, score, denoiser and samples at any t.

A mixture stays a mixture under the forward process (DESIGN.md):

    p(x, t) = sum_j w_j N(x; mu_j, S_j + sigma^2 t I)
    s(x, t) = sum_j r_j(x, t) (S_j + sigma^2 t I)^-1 (mu_j - x)

Each S_j is diagonalised once, S_j = U_j diag(lam_j) U_j^T, so S_j + v I = U_j diag(lam_j + v) U_j^T
for every noise variance v: one eigendecomposition serves all t, also a different t per sample.
Responsibilities r_j are a softmax of per-component log-densities (log-sum-exp), never a ratio of
raw densities, so everything stays finite far from the modes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

_CHUNK_ELEMENTS = 1 << 22  # rows * K * d per chunk: bounds the (B, K, d) temporaries
_LOG_2PI = math.log(2.0 * math.pi)


class _Terms(NamedTuple):
    """Per-component terms of a batch at one noise variance v, in each component's eigenbasis."""

    log_joint: Tensor  # (B, K) log w_j + log N(x; mu_j, S_j + v I)
    z: Tensor  # (B, K, d) U_j^T (x - mu_j)
    lam: Tensor  # (K, d) eigenvalues of S_j
    c: Tensor  # (B|1, K, d) eigenvalues of S_j + v I
    basis: Tensor | None  # (K, d, d) eigenvectors U_j; None when every S_j is diagonal


def _mix(r: Tensor, y: Tensor, basis: Tensor | None) -> Tensor:
    """sum_j r_j U_j y_j: mix per-component vectors given in each eigenbasis, (B, d)."""
    if basis is None:
        return torch.einsum("bk,bkd->bd", r, y)
    return torch.einsum("bk,bke,kde->bd", r, y, basis)


class GaussianMixture:
    """p(x, t) = sum_j w_j N(x; mu_j, S_j + sigma^2 t I), the exact marginal of dx = sigma dW.

    `covs` is (K, d, d) full, (K, d) diagonal or (K,) isotropic variances; weights are normalised.
    Tensors are stored in the dtype given; every method computes in the dtype of its input x.
    """

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor, sigma: float = 1.0) -> None:
        means = torch.as_tensor(means)
        if not means.is_floating_point():
            means = means.to(torch.get_default_dtype())
        if means.ndim != 2:
            raise ValueError(f"means must be (K, d), got shape {tuple(means.shape)}")
        k, d = means.shape
        weights = torch.as_tensor(weights, dtype=means.dtype, device=means.device)
        covs = torch.as_tensor(covs, dtype=means.dtype, device=means.device)
        if weights.shape != (k,):
            raise ValueError(f"weights must be ({k},) to match means, got {tuple(weights.shape)}")
        if not bool((weights >= 0).all()) or not float(weights.sum()) > 0:
            raise ValueError("weights must be non-negative with a positive sum")
        if covs.shape not in ((k, d, d), (k, d), (k,)):
            raise ValueError(
                f"covs must be ({k}, {d}, {d}), ({k}, {d}) or ({k},), got {tuple(covs.shape)}"
            )
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.weights = weights / weights.sum()  # (K,)
        self.means = means  # (K, d)
        self.covs = covs  # (K, d, d) | (K, d) | (K,)
        self.sigma = float(sigma)  # diffusion coefficient: noise variance sigma^2 t at time t
        self.cov_type = {3: "full", 2: "diag", 1: "iso"}[covs.ndim]
        self._basis: Tensor | None = None
        if self.cov_type == "full":  # S_j = U_j diag(lam_j) U_j^T, kept in float64 for accuracy
            self._lam, self._basis = torch.linalg.eigh(0.5 * (covs + covs.mT).double())
        elif self.cov_type == "diag":
            self._lam = covs
        else:
            self._lam = covs[:, None].expand(k, d).contiguous()
        if not bool((self._lam > 0).all()):
            raise ValueError("every component covariance must be positive definite")

    # ---- structure ------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Dimension d of the data."""
        return int(self.means.shape[1])

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.means.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        """Storage dtype of the parameters."""
        return self.means.dtype

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.means.device

    @property
    def mean(self) -> Tensor:
        """Mixture mean sum_j w_j mu_j, (d,); the same at every t."""
        return self.weights @ self.means

    def noise_std(self, t: float | Tensor) -> float | Tensor:
        """Std of the noise added by time t: sigma(t) = sigma sqrt(t)."""
        return self.sigma * (math.sqrt(t) if isinstance(t, (int, float)) else torch.sqrt(t))

    def component_covariances(self, t: float = 0.0) -> Tensor:
        """Full covariances S_j + sigma^2 t I of the components at time t, (K, d, d)."""
        eye = torch.eye(self.dim, dtype=self.dtype, device=self.device)
        if self.cov_type == "full":
            s = self.covs
        elif self.cov_type == "diag":
            s = torch.diag_embed(self.covs)
        else:
            s = self.covs[:, None, None] * eye
        return s + self.sigma**2 * t * eye

    def covariance(self, t: float = 0.0) -> Tensor:
        """Mixture covariance sum_j w_j (C_j + mu_j mu_j^T) - m m^T at time t, (d, d)."""
        c = self.component_covariances(t)
        second = torch.einsum("k,kde->de", self.weights, c) + torch.einsum(
            "k,kd,ke->de", self.weights, self.means, self.means
        )
        return second - torch.outer(self.mean, self.mean)

    def marginal(self, t: float) -> GaussianMixture:
        """The mixture p(., t) as a new mixture (covs S_j + sigma^2 t I, same sigma, time reset)."""
        v = self.sigma**2 * t
        if self.cov_type == "full":
            covs = self.covs + v * torch.eye(self.dim, dtype=self.dtype, device=self.device)
        else:
            covs = self.covs + v
        return GaussianMixture(self.weights, self.means, covs, self.sigma)

    def to(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> GaussianMixture:
        """The same mixture with parameters in another dtype and/or on another device."""
        out = GaussianMixture(
            self.weights.to(device=device, dtype=dtype),
            self.means.to(device=device, dtype=dtype),
            self.covs.to(device=device, dtype=dtype),
            self.sigma,
        )
        if self._basis is not None:  # keep the float64 eigendecomposition of the original
            out._lam, out._basis = self._lam.to(device), self._basis.to(device)
        return out

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(K={self.n_components}, d={self.dim}, covs={self.cov_type}, "
            f"sigma={self.sigma}, dtype={self.dtype})"
        )

    # ---- the closed forms -----------------------------------------------------------------

    def log_prob(self, x: Tensor, t: float | Tensor = 0.0) -> Tensor:
        """log p(x, t) = logsumexp_j [log w_j + log N(x; mu_j, S_j + sigma^2 t I)], (B,)."""
        return self._batched(self._log_prob, x, self._time_variance(x, t))

    def score(self, x: Tensor, t: float | Tensor = 0.0) -> Tensor:
        """s(x, t) = sum_j r_j (S_j + sigma^2 t I)^-1 (mu_j - x) (DESIGN.md), (B, d)."""
        return self._batched(self._score, x, self._time_variance(x, t))

    def score_at_noise(self, x: Tensor, sigma_level: float | Tensor) -> Tensor:
        """Score of p_0 convolved with N(0, sigma_level^2 I) at x, (B, d)."""
        return self._batched(self._score, x, self._noise_variance(x, sigma_level))

    def denoiser(self, x: Tensor, sigma_level: float | Tensor) -> Tensor:
        """D(x, s) = E[x_0 | x] = sum_j r_j (mu_j + S_j (S_j + s^2 I)^-1 (x - mu_j)), (B, d).

        Tweedie: D(x, s) = x + s^2 grad log p_s(x) (Karras et al. 2022, Eq. 3).
        """
        return self._batched(self._denoise, x, self._noise_variance(x, sigma_level))

    def responsibilities(self, x: Tensor, t: float | Tensor = 0.0) -> Tensor:
        """Posterior component probabilities r_j(x, t) = softmax_j of the log-joints, (B, K)."""
        return self._batched(self._responsibilities, x, self._time_variance(x, t))

    def sample(
        self, n: int, t: float | Tensor = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """n exact samples of p(., t): j ~ Cat(w), x = mu_j + U_j sqrt(lam_j + v) z, (n, d)."""
        if isinstance(t, (int, float)) and t < 0:
            raise ValueError(f"t must be >= 0, got {t}")
        j = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.dtype, device=self.device)
        v = self.sigma**2 * torch.as_tensor(t, dtype=self.dtype, device=self.device)
        lam = self._lam.to(self.dtype)
        y = torch.sqrt(lam[j] + v.reshape(-1, 1)) * z  # (n, d) in the eigenbasis
        if self._basis is not None:
            basis = self._basis.to(self.dtype)
            rotated = torch.empty_like(y)
            for k in range(self.n_components):  # a loop over K: avoids an (n, d, d) gather
                pick = j == k
                rotated[pick] = y[pick] @ basis[k].mT
            y = rotated
        return self.means[j] + y

    # ---- internals ------------------------------------------------------------------------

    def _check(self, x: Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must be (B, {self.dim}), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")

    def _time_variance(self, x: Tensor, t: float | Tensor) -> Tensor:
        """Noise variance v = sigma^2 t as a () or (B,) tensor in x's dtype."""
        self._check(x)
        if isinstance(t, (int, float)) and t < 0:
            raise ValueError(f"t must be >= 0, got {t}")
        return self.sigma**2 * self._per_row(x, t)

    def _noise_variance(self, x: Tensor, sigma_level: float | Tensor) -> Tensor:
        """Noise variance v = s^2 as a () or (B,) tensor in x's dtype."""
        self._check(x)
        return self._per_row(x, sigma_level) ** 2

    @staticmethod
    def _per_row(x: Tensor, value: float | Tensor) -> Tensor:
        value = torch.as_tensor(value, dtype=x.dtype, device=x.device)
        if value.ndim > 1 or (value.ndim == 1 and value.shape[0] not in (1, x.shape[0])):
            raise ValueError(f"t / sigma must be a scalar or ({x.shape[0]},), got {value.shape}")
        return value.reshape(-1)[0] if value.numel() == 1 else value

    def _batched(self, fn: Callable[[_Terms], Tensor], x: Tensor, v: Tensor) -> Tensor:
        """Apply fn to row chunks of (x, v) so that (B, K, d) temporaries stay bounded."""
        rows = max(1, _CHUNK_ELEMENTS // (self.n_components * self.dim))
        if x.shape[0] <= rows:
            return fn(self._terms(x, v))
        parts = [
            fn(self._terms(x[i : i + rows], v if v.ndim == 0 else v[i : i + rows]))
            for i in range(0, x.shape[0], rows)
        ]
        return torch.cat(parts)

    def _terms(self, x: Tensor, v: Tensor) -> _Terms:
        """Per-component log-joints and offsets at noise variance v (() or (B,))."""
        dt, dev = x.dtype, x.device
        log_w = torch.log(self.weights.to(dev, dt))  # (K,)
        lam = self._lam.to(dev, dt)  # (K, d)
        basis = None if self._basis is None else self._basis.to(dev, dt)  # (K, d, d)
        diff = x[:, None, :] - self.means.to(dev, dt)  # (B, K, d)
        z = diff if basis is None else torch.einsum("bkd,kde->bke", diff, basis)
        c = lam + v.reshape(-1, 1, 1)  # (B|1, K, d)
        log_n = -0.5 * ((z.square() / c).sum(-1) + torch.log(c).sum(-1) + self.dim * _LOG_2PI)
        return _Terms(log_w + log_n, z, lam, c, basis)

    @staticmethod
    def _log_prob(terms: _Terms) -> Tensor:
        return torch.logsumexp(terms.log_joint, dim=-1)

    @staticmethod
    def _responsibilities(terms: _Terms) -> Tensor:
        return torch.softmax(terms.log_joint, dim=-1)

    @staticmethod
    def _score(terms: _Terms) -> Tensor:
        r = torch.softmax(terms.log_joint, dim=-1)  # (B, K)
        return _mix(r, -terms.z / terms.c, terms.basis)  # C_j^-1 (mu_j - x), mixed

    def _denoise(self, terms: _Terms) -> Tensor:
        r = torch.softmax(terms.log_joint, dim=-1)  # (B, K)
        means = self.means.to(dtype=r.dtype, device=r.device)
        shrink = terms.lam / terms.c * terms.z  # S_j C_j^-1 (x - mu_j) in the eigenbasis
        return r @ means + _mix(r, shrink, terms.basis)
