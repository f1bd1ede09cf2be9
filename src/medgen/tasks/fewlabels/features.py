"""Multi-scale diffusion features: the U-Net decoder's activations at a few noise levels.

Baranchuk et al. 2022 ("Label-efficient semantic segmentation with diffusion models", sec. 3):
noise the image to a few levels with one fixed noise, run the denoiser once per level, take the
decoder blocks' activations, upsample each to the image size and concatenate them per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.models import DiffusionModel
from medgen.tasks.adapter import SIGNED_PER_UNIT


@dataclass(frozen=True)
class FeatureSettings:
    """Where the features are read: noise levels, decoder levels, and the fixed noise's seed."""

    # both chosen on dev slices (the sweep is at the end of benchmarks/results/segment.txt)
    sigmas: tuple[float, ...] = (0.01, 0.05, 0.15)  # noise stds in [0, 1] image units
    blocks: tuple[int, ...] | None = None  # decoder levels, coarsest first (None: all but it)
    seed: int = 0  # seed of the one noise image every slice is noised with


def decoder_blocks(model: DiffusionModel) -> list[nn.Module]:
    """The decoder levels (coarsest first) of a pixel-space diffusion model's medgen U-Net;
    ValueError for other models, whose decoders are not known by name."""
    if model.vae is not None:
        raise ValueError("this diffusion model works on VAE latents; features need pixels")
    up = getattr(model.denoiser.net, "up", None)
    if not isinstance(up, nn.ModuleList):
        raise ValueError("features need medgen's U-Net backbone (its decoder levels `up`)")
    return list(up)


def feature_channels(model: DiffusionModel, s: FeatureSettings) -> int:
    """Channels per pixel that `diffusion_features` returns."""
    size = int(model.config.image_size)
    probe = torch.zeros(1, 1, size, size, device=next(model.denoiser.parameters()).device)
    return int(diffusion_features(model, probe, s).shape[1])


@torch.no_grad()
def diffusion_features(model: DiffusionModel, images: Tensor, s: FeatureSettings) -> Tensor:
    """Images (B, 1, H, W) in [0, 1] -> features (B, F, H, W), F = levels x decoder channels."""
    blocks = decoder_blocks(model)
    chosen = (
        range(1, len(blocks)) if s.blocks is None else s.blocks
    )  # dev: tumour better without the 8 px level
    if any(not 0 <= j < len(blocks) for j in chosen):
        raise ValueError(f"decoder levels {tuple(chosen)}: the U-Net has {len(blocks)}")
    device = next(model.denoiser.parameters()).device
    x = images.to(device)
    generator = torch.Generator().manual_seed(s.seed)
    noise = torch.randn(1, *x.shape[1:], generator=generator).to(device)  # (1, 1, H, W)
    n_labels = len(model.config.conditioning.names)  # a conditional model: its null label
    cond = torch.zeros(x.shape[0], n_labels, dtype=torch.long, device=device) if n_labels else None
    caught: dict[int, Tensor] = {}
    hooks = [
        blocks[j].register_forward_hook(lambda _m, _i, out, j=j: caught.__setitem__(j, out))
        for j in chosen
    ]
    found = []
    try:
        for sigma in s.sigmas:
            signed = SIGNED_PER_UNIT * (x + sigma * noise) - 1  # (B, 1, H, W) in model units
            level = torch.full((x.shape[0],), SIGNED_PER_UNIT * sigma, device=device)
            model.denoiser(signed, level, cond)
            for j in chosen:
                found.append(F.interpolate(caught[j].float(), size=x.shape[2:], mode="bilinear"))
    finally:
        for hook in hooks:
            hook.remove()
    return torch.cat(found, dim=1).contiguous()  # (B, F, H, W)
