"""Noise schedules: maps from diffusion time t to noise level sigma(t) and scale s(t).

Every schedule is written in the EDM parameterisation (Karras et al. 2022, eq. 4 and table 1):
the perturbed sample is x_t = s(t) (x_0 + sigma(t) n) with n ~ N(0, I), so a denoiser always
sees the unscaled x = x_t / s(t) = x_0 + sigma n. Variance-exploding (VE) schedules have
s(t) = 1; variance-preserving (VP) schedules have s(t)^2 (1 + sigma(t)^2) = 1.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor

from medgen.config import from_dict, to_dict
from medgen.exceptions import InputError


@runtime_checkable
class Schedule(Protocol):
    """A map from time t to noise level sigma(t) and scale s(t), with inverse and derivatives."""

    name: ClassVar[str]

    @property
    def t_range(self) -> tuple[float, float]: ...

    def sigma(self, t: Tensor | float) -> Tensor: ...

    def scale(self, t: Tensor | float) -> Tensor: ...

    def sigma_inv(self, sigma: Tensor | float) -> Tensor: ...

    def sigma_dot(self, t: Tensor | float) -> Tensor: ...

    def scale_dot(self, t: Tensor | float) -> Tensor: ...

    def to_dict(self) -> dict[str, Any]: ...


def as_float_tensor(value: Tensor | float) -> Tensor:
    """`value` as a floating-point tensor (integer tensors and Python numbers are converted)."""
    if isinstance(value, Tensor):
        return value if value.is_floating_point() else value.to(torch.get_default_dtype())
    return torch.as_tensor(value, dtype=torch.get_default_dtype())


class _ScheduleBase:
    """Shared parts: the serialisable config and the default time range t in [0, 1]."""

    name: ClassVar[str]

    @property
    def t_range(self) -> tuple[float, float]:
        """The interval of diffusion time the schedule is defined on."""
        return (0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The constructor's arguments plus the registry name, as JSON-able data."""
        return {"name": self.name, **to_dict(self)}


class _VarianceExploding(_ScheduleBase):
    """VE schedules: no scaling, s(t) = 1."""

    def scale(self, t: Tensor | float) -> Tensor:
        """s(t) = 1 (Karras et al. 2022, table 1, VE column)."""
        return torch.ones_like(as_float_tensor(t))

    def scale_dot(self, t: Tensor | float) -> Tensor:
        """ds/dt = 0."""
        return torch.zeros_like(as_float_tensor(t))


@dataclasses.dataclass(frozen=True)
class BrownianVE(_VarianceExploding):
    """sigma(t) = sigma_max sqrt(t): the seed's process dx = sigma_max dW (DESIGN.md)."""

    name: ClassVar[str] = "brownian_ve"
    sigma_max: float = 25.0  # diffusion coefficient of dx = sigma_max dW; also sigma(1)

    def __post_init__(self) -> None:
        if not self.sigma_max > 0:
            raise ValueError(f"sigma_max = {self.sigma_max}: need > 0")

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma(t) = sigma_max sqrt(t)."""
        return self.sigma_max * as_float_tensor(t).sqrt()

    def sigma_inv(self, sigma: Tensor | float) -> Tensor:
        """t = (sigma / sigma_max)^2."""
        return (as_float_tensor(sigma) / self.sigma_max).square()

    def sigma_dot(self, t: Tensor | float) -> Tensor:
        """dsigma/dt = sigma_max / (2 sqrt(t))."""
        return self.sigma_max / (2 * as_float_tensor(t).sqrt())


@dataclasses.dataclass(frozen=True)
class GeometricVE(_VarianceExploding):
    """sigma(t) = sigma_min (sigma_max / sigma_min)^t (Song et al. 2021, appendix C, VE SDE).

    sigma(t) is the noise level of x_t given x_0, as in score_sde's code; the SDE's exact
    perturbation variance, sigma(t)^2 - sigma_min^2, differs by sigma_min^2.
    """

    name: ClassVar[str] = "geometric_ve"
    sigma_min: float = 0.01  # noise level at t = 0
    sigma_max: float = 50.0  # noise level at t = 1

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"sigma_min, sigma_max = {self.sigma_min}, {self.sigma_max}")

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma(t) = sigma_min exp(t ln(sigma_max / sigma_min))."""
        return self.sigma_min * torch.exp(self._log_ratio * as_float_tensor(t))

    def sigma_inv(self, sigma: Tensor | float) -> Tensor:
        """t = ln(sigma / sigma_min) / ln(sigma_max / sigma_min)."""
        return torch.log(as_float_tensor(sigma) / self.sigma_min) / self._log_ratio

    def sigma_dot(self, t: Tensor | float) -> Tensor:
        """dsigma/dt = sigma(t) ln(sigma_max / sigma_min)."""
        return self._log_ratio * self.sigma(t)


class _VariancePreserving(_ScheduleBase):
    """VP schedules from a signal level alpha_bar(t) = s(t)^2, so sigma(t)^2 = 1/alpha_bar - 1."""

    def log_alpha_bar(self, t: Tensor | float) -> Tensor:
        """ln alpha_bar(t) (DDPM's alphas_cumprod in continuous time)."""
        raise NotImplementedError

    def scale_dot(self, t: Tensor | float) -> Tensor:
        """ds/dt."""
        raise NotImplementedError

    def scale(self, t: Tensor | float) -> Tensor:
        """s(t) = sqrt(alpha_bar(t))."""
        return torch.exp(0.5 * self.log_alpha_bar(t))

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma(t) = sqrt(1 / alpha_bar(t) - 1) (Karras et al. 2022, table 1, VP column)."""
        return torch.expm1(-self.log_alpha_bar(t)).sqrt()

    def sigma_dot(self, t: Tensor | float) -> Tensor:
        """dsigma/dt = -s'(t) / (s(t)^3 sigma(t)), from 1 + sigma^2 = 1 / s^2."""
        s = self.scale(t)
        return -self.scale_dot(t) / (s**3 * self.sigma(t))


@dataclasses.dataclass(frozen=True)
class VPLinear(_VariancePreserving):
    """DDPM's linear beta(t) in continuous time (Song et al. 2021 app. C; Karras table 1)."""

    name: ClassVar[str] = "vp_linear"
    beta_min: float = 0.1  # beta(0); DDPM's beta_1 = 1e-4 times its N = 1000 steps
    beta_max: float = 20.0  # beta(1); DDPM's beta_N = 0.02 times N = 1000

    def __post_init__(self) -> None:
        if not 0 <= self.beta_min <= self.beta_max or self.beta_max <= 0:
            raise ValueError(f"beta_min, beta_max = {self.beta_min}, {self.beta_max}")

    def _beta(self, t: Tensor) -> Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def log_alpha_bar(self, t: Tensor | float) -> Tensor:
        """ln alpha_bar(t) = -int_0^t beta = -(beta_min t + (beta_max - beta_min) t^2 / 2)."""
        t = as_float_tensor(t)
        return -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)

    def sigma_inv(self, sigma: Tensor | float) -> Tensor:
        """Root of beta_d t^2 / 2 + beta_min t = ln(1 + sigma^2) (Karras table 1, VP column)."""
        beta_d = self.beta_max - self.beta_min
        log1p_sigma2 = torch.log1p(as_float_tensor(sigma).square())
        if beta_d == 0:
            return log1p_sigma2 / self.beta_min
        return ((self.beta_min**2 + 2 * beta_d * log1p_sigma2).sqrt() - self.beta_min) / beta_d

    def scale_dot(self, t: Tensor | float) -> Tensor:
        """ds/dt = -beta(t) s(t) / 2."""
        t = as_float_tensor(t)
        return -0.5 * self._beta(t) * self.scale(t)


@dataclasses.dataclass(frozen=True)
class VPCosine(_VariancePreserving):
    """alpha_bar = f(t)/f(0), f(t) = cos^2(pi/2 (t + s)/(1 + s)) (Nichol & Dhariwal 2021, eq. 17).

    sigma(t) diverges as t -> 1; pick the largest noise level from sigma, not from t.
    """

    name: ClassVar[str] = "vp_cosine"
    s: float = 0.008  # offset keeping beta small near t = 0 (Nichol & Dhariwal's s)

    def __post_init__(self) -> None:
        if not self.s > 0:
            raise ValueError(f"s = {self.s}: need > 0")

    def _angle(self, t: Tensor) -> Tensor:
        return (t + self.s) / (1 + self.s) * (math.pi / 2)

    def log_alpha_bar(self, t: Tensor | float) -> Tensor:
        """ln alpha_bar(t) = 2 ln(cos(angle(t)) / cos(angle(0)))."""
        cos0 = math.cos(self.s / (1 + self.s) * math.pi / 2)
        return 2 * torch.log(torch.cos(self._angle(as_float_tensor(t))) / cos0)

    def sigma_inv(self, sigma: Tensor | float) -> Tensor:
        """t from cos(angle(t)) = cos(angle(0)) / sqrt(1 + sigma^2)."""
        cos0 = math.cos(self.s / (1 + self.s) * math.pi / 2)
        angle = torch.arccos(cos0 * torch.rsqrt(1 + as_float_tensor(sigma).square()))
        return angle * (2 * (1 + self.s) / math.pi) - self.s

    def scale_dot(self, t: Tensor | float) -> Tensor:
        """ds/dt = -s(t) tan(angle(t)) pi / (2 (1 + s))."""
        t = as_float_tensor(t)
        return -self.scale(t) * torch.tan(self._angle(t)) * (math.pi / (2 * (1 + self.s)))


SCHEDULES: dict[str, type[Schedule]] = {
    "brownian_ve": BrownianVE,
    "geometric_ve": GeometricVE,
    "vp_linear": VPLinear,
    "vp_cosine": VPCosine,
}


def schedule_from_dict(data: dict[str, Any], source: str = "schedule") -> Schedule:
    """Rebuild a schedule from `Schedule.to_dict()` output (unknown names and keys rejected)."""
    rest = dict(data)
    name = rest.pop("name", None)
    if name not in SCHEDULES:
        raise InputError(source, f"unknown schedule {name!r} (known: {', '.join(SCHEDULES)})")
    return from_dict(SCHEDULES[name], rest, source=source)
