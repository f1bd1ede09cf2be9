"""Random draws that work with a generator on any device.

torch draws a tensor on the device of the generator that drives it and refuses any other, so
`torch.randn(shape, generator=g)` fails for a CUDA generator (the trainer's, on a GPU) and
`torch.randn(shape, generator=g, device="cuda")` for a CPU one (the tasks'). These helpers draw
on the generator's device and then move the numbers where they are needed: a seed gives the
same numbers wherever the result lives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

Shape = Sequence[int] | torch.Size


def _draw(
    fn: Callable[..., Tensor],
    shape: Shape,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
) -> Tensor:
    """`fn` (torch.randn, torch.rand) of `shape` drawn on the generator's device (`device` when
    there is no generator), then moved to `device` (default: the CPU): one policy for every draw."""
    where: Any = device if generator is None else generator.device
    drawn = fn(tuple(shape), generator=generator, device=where, dtype=dtype)
    return drawn.to(device) if device is not None else drawn.cpu()


def randn(
    shape: Shape,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """N(0, I) of `shape` from `generator`, on `device` (default: the CPU)."""
    return _draw(torch.randn, shape, generator, device, dtype)


def rand(
    shape: Shape,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """U[0, 1) of `shape` from `generator`, on `device` (default: the CPU)."""
    return _draw(torch.rand, shape, generator, device, dtype)
