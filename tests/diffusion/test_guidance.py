"""Classifier-free guidance against the exact class-conditional mixture denoiser."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from medgen.analytic import GaussianMixture
from medgen.diffusion.guidance import cfg_denoiser

F64 = torch.float64
NULL = -1  # the "no class" label


class TwoClassDenoiser:
    """Exact D(x, sigma, cond): class c is mixture component c; NULL is the whole mixture."""

    def __init__(self) -> None:
        weights = torch.tensor([0.4, 0.6], dtype=F64)
        means = torch.tensor([[-2.0, 0.0], [1.5, 1.0]], dtype=F64)
        covs = torch.tensor([[0.3, 0.2], [0.1, 0.5]], dtype=F64)  # diagonal
        self.mixture = GaussianMixture(weights, means, covs)
        self.classes = [
            GaussianMixture(weights[k : k + 1], means[k : k + 1], covs[k : k + 1]) for k in (0, 1)
        ]
        self.batches: list[int] = []

    def __call__(self, x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        self.batches.append(x.shape[0])
        out = self.mixture.denoiser(x, sigma)
        for k, gm in enumerate(self.classes):
            pick = cond == k
            out[pick] = gm.denoiser(x[pick], sigma[pick])
        return out


def setup() -> tuple[TwoClassDenoiser, Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = 2 * torch.randn(6, 2, generator=gen, dtype=F64)
    sigma = torch.tensor([0.05, 0.3, 0.3, 1.0, 2.0, 5.0], dtype=F64)
    cond = torch.tensor([0, 1, 0, 1, 1, 0])
    return TwoClassDenoiser(), x, sigma, cond


def test_scale_zero_is_unconditional_and_one_is_the_class_conditional_denoiser() -> None:
    denoiser, x, sigma, cond = setup()
    unconditional = denoiser.mixture.denoiser(x, sigma)
    torch.testing.assert_close(cfg_denoiser(denoiser, cond, 0.0, NULL)(x, sigma), unconditional)
    guided = cfg_denoiser(denoiser, cond, 1.0, NULL)(x, sigma)
    for k, gm in enumerate(denoiser.classes):
        pick = cond == k
        torch.testing.assert_close(guided[pick], gm.denoiser(x[pick], sigma[pick]))


@pytest.mark.parametrize("w", [0.5, 3.0])
def test_guided_denoiser_extrapolates(w: float) -> None:
    denoiser, x, sigma, cond = setup()
    d_uncond = denoiser(x, sigma, torch.full_like(cond, NULL))
    d_cond = denoiser(x, sigma, cond)
    guided = cfg_denoiser(denoiser, cond, w, NULL)(x, sigma)
    torch.testing.assert_close(guided, d_uncond + w * (d_cond - d_uncond))
    # In score form: grad log p(x) + w grad log p(c | x) (Ho & Salimans 2022).
    score = (guided - x) / sigma[:, None] ** 2
    s_uncond, s_cond = (d_uncond - x) / sigma[:, None] ** 2, (d_cond - x) / sigma[:, None] ** 2
    torch.testing.assert_close(score, s_uncond + w * (s_cond - s_uncond))


def test_one_batched_call_per_evaluation() -> None:
    denoiser, x, sigma, cond = setup()
    guided = cfg_denoiser(denoiser, cond, 2.0, NULL)
    denoiser.batches.clear()
    for _ in range(3):
        guided(x, sigma)
    assert denoiser.batches == [2 * x.shape[0]] * 3


def test_scalar_sigma_tensor_conditions_and_bad_batch() -> None:
    seen: list[Any] = []

    def denoiser(x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        seen.append((sigma.clone(), cond.clone()))
        return x * cond.sum(dim=1, keepdim=True)

    x = torch.ones(3, 2)
    cond = torch.ones(3, 4)  # e.g. an embedding per sample
    out = cfg_denoiser(denoiser, cond, 2.0, torch.zeros(4))(x, torch.tensor(0.5))
    torch.testing.assert_close(out, x * 8.0)  # 0 + 2 (4 - 0)
    sigma_seen, cond_seen = seen[-1]
    assert torch.equal(sigma_seen, torch.full((6,), 0.5))
    assert torch.equal(cond_seen[:3], torch.zeros(3, 4)) and torch.equal(cond_seen[3:], cond)
    with pytest.raises(ValueError, match="batch"):
        cfg_denoiser(denoiser, cond, 2.0, torch.zeros(4))(torch.ones(2, 2), torch.tensor(0.5))
