"""Network function evaluations (NFE): a counting denoiser and each sampler's exact count."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor

from medgen.diffusion.samplers import SAMPLERS, Denoiser


class CountingDenoiser:
    """Wraps a denoiser and counts its calls in `.nfe` (one call on a batch of B counts once)."""

    def __init__(self, denoiser: Denoiser) -> None:
        self.denoiser = denoiser
        self.nfe = 0

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        self.nfe += 1
        return self.denoiser(x, sigma)


def _knob(name: str, knobs: dict[str, Any], knob: str) -> Any:
    """The knob's value from `knobs`, else the sampler's own default."""
    if knob in knobs:
        return knobs[knob]
    return inspect.signature(SAMPLERS[name]).parameters[knob].default


def _one_per_step(name: str, n: int, to_zero: bool, knobs: dict[str, Any]) -> int:
    return n


def _heun(name: str, n: int, to_zero: bool, knobs: dict[str, Any]) -> int:
    return 2 * n - int(to_zero)  # the step to sigma = 0 is an Euler step


def _pc(name: str, n: int, to_zero: bool, knobs: dict[str, Any]) -> int:
    return n * (1 + _knob(name, knobs, "n_corrector"))


_NFE: dict[str, Callable[[str, int, bool, dict[str, Any]], int]] = {
    "euler": _one_per_step,
    "heun": _heun,
    "heun_churn": _heun,
    "euler_maruyama": _one_per_step,
    "euler_ancestral": _one_per_step,
    "ddim": _one_per_step,
    "pc": _pc,
    "dpmpp_2m": _one_per_step,
    "lms": _one_per_step,
}


def expected_nfe(name: str, n_steps: int, *, to_zero: bool = True, **knobs: Any) -> int:
    """Exact denoiser calls of sampler `name` over `n_steps` steps (the last to 0 if to_zero)."""
    if name not in _NFE:
        raise KeyError(f"unknown sampler {name!r} (known: {', '.join(_NFE)})")
    return _NFE[name](name, n_steps, to_zero, knobs)
