"""Convolutional VAE encoder and decoder (Kingma & Welling 2014), in the layout of the latent-
diffusion autoencoder (Rombach et al. 2022): residual GroupNorm-SiLU-conv blocks, stride-2
downsampling, nearest-neighbour upsampling, a diagonal-Gaussian posterior.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from medgen.nets.unet import CONVS, Downsample, ResBlock, Upsample, group_norm

GROUPS = 8  # GroupNorm groups


class Posterior(NamedTuple):
    """Diagonal Gaussian q(z | x) = N(mean, exp(logvar)), each (B, latent_channels, *S/f)."""

    mean: Tensor
    logvar: Tensor


def downsampling_factor(channels: tuple[int, ...]) -> int:
    """Side ratio image / latent, 2 ** (levels - 1)."""
    return 2 ** (len(channels) - 1)


class VAEEncoder(nn.Module):
    """x (B, C, *S) -> (mean, logvar), each (B, latent_channels, *S/f), f = 2**(levels-1)."""

    def __init__(
        self,
        in_channels: int = 1,
        channels: tuple[int, ...] = (32, 64, 128),
        latent_channels: int = 4,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        conv = CONVS[spatial_dims]
        self.channels = tuple(channels)
        self.stem = conv(in_channels, channels[0], 3, padding=1)
        layers: list[nn.Module] = []
        cur = channels[0]
        for i, ch in enumerate(channels):
            layers.append(ResBlock(cur, ch, None, spatial_dims, GROUPS))
            cur = ch
            if i < len(channels) - 1:
                layers.append(Downsample(ch, spatial_dims))
        layers += [
            ResBlock(cur, cur, None, spatial_dims, GROUPS),
            group_norm(cur, GROUPS),
            nn.SiLU(),
        ]
        self.body = nn.Sequential(*layers)
        self.out = conv(cur, 2 * latent_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Posterior:
        """(B, C, *S) -> Posterior(mean, logvar)."""
        factor = downsampling_factor(self.channels)
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(f"VAE input sides must be divisible by {factor}: {tuple(x.shape)}")
        mean, logvar = self.out(self.body(self.stem(x))).chunk(2, dim=1)  # (B, L, *S/f) each
        return Posterior(mean, logvar)


class VAEDecoder(nn.Module):
    """z (B, latent_channels, *S/f) -> (B, out_channels, *S), no output activation."""

    def __init__(
        self,
        out_channels: int = 1,
        channels: tuple[int, ...] = (32, 64, 128),
        latent_channels: int = 4,
        spatial_dims: int = 2,
    ) -> None:
        super().__init__()
        conv = CONVS[spatial_dims]
        self.latent_channels = latent_channels
        cur = channels[-1]
        layers: list[nn.Module] = [
            conv(latent_channels, cur, 3, padding=1),
            ResBlock(cur, cur, None, spatial_dims, GROUPS),
        ]
        for i in reversed(range(len(channels))):
            layers.append(ResBlock(cur, channels[i], None, spatial_dims, GROUPS))
            cur = channels[i]
            if i > 0:
                layers.append(Upsample(cur, spatial_dims))
        layers += [group_norm(cur, GROUPS), nn.SiLU(), conv(cur, out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """(B, latent_channels, *S/f) -> (B, out_channels, *S)."""
        if z.shape[1] != self.latent_channels:
            raise ValueError(f"z must have {self.latent_channels} channels, got {tuple(z.shape)}")
        # channels-last input makes oneDNN run every convolution in that layout: 1.5x faster on
        # a CPU for the same values to float rounding (benchmarks/decoder_layout.py)
        layout = torch.channels_last if z.dim() == 4 else torch.channels_last_3d
        return self.net(z.contiguous(memory_format=layout)).contiguous()
