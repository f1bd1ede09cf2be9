"""Classifier-free guidance: D = D_uncond + w (D_cond - D_uncond) (Ho & Salimans 2022)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from medgen.diffusion.precond import expand_sigma
from medgen.diffusion.samplers import Denoiser

CondDenoiser = Callable[[Tensor, Tensor, Any], Tensor]  # D(x (B, ...), sigma (B,), cond (B, ...))


def cfg_denoiser(
    denoiser: CondDenoiser, cond: Any, guidance_scale: float, null_cond: Any
) -> Denoiser:
    """The guided denoiser D(x, sigma) of Ho & Salimans 2022 (algorithm 2), in denoiser form.

    guidance_scale w: 0 is unconditional, 1 conditional, > 1 guided (Ho & Salimans' w is our
    w - 1). Both halves are one batched call D([x, x], [sigma, sigma], [null_cond, cond]), so each
    evaluation is one network call (one NFE). cond is a tensor (B, ...) whose first axis matches
    x; null_cond is the "no condition" value, broadcast to cond's shape (a label, a zero
    embedding).
    """
    cond_t = torch.as_tensor(cond)
    null_t = torch.as_tensor(null_cond, dtype=cond_t.dtype, device=cond_t.device)
    both_cond = torch.cat([null_t.expand_as(cond_t), cond_t])  # (2B, ...): unconditional first
    w = guidance_scale  # guidance strength: 0 unconditional, 1 conditional

    def guided(x: Tensor, sigma: Tensor | float) -> Tensor:
        if x.shape[0] != cond_t.shape[0]:
            raise ValueError(f"x has batch {x.shape[0]} but cond has {cond_t.shape[0]}")
        sigma_b = expand_sigma(sigma, x).flatten()  # (B,)
        D_both = denoiser(torch.cat([x, x]), torch.cat([sigma_b, sigma_b]), both_cond)
        D_uncond, D_cond = D_both.chunk(2)
        return D_uncond + w * (D_cond - D_uncond)

    return guided
