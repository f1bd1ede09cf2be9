"""DCGAN generator and discriminator (Radford et al. 2016), sized by image size, optionally
class-conditional: the generator reads [z, label embedding] (Mirza & Osindero 2014), the
discriminator is a projection discriminator (Miyato & Koyama 2018), optionally spectrally
normalised (Miyato et al. 2018).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as sn

from medgen.nets.embedding import LabelEmbedding

BASE = 4  # side of the generator's first and the discriminator's last feature map


def num_stages(image_size: int) -> int:
    """Stride-2 stages between a 4x4 map and the image: log2(image_size) - 2."""
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(math.log2(image_size)) - 2


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) [+ labels] -> image (B, channels, S, S) in [-1, 1] (Radford 2016)."""

    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 64,
        channels: int = 1,
        width: int = 64,
        cond_classes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim  # size of the Gaussian input z
        self.image_size = image_size
        n = num_stages(image_size)
        widths = [width * 2 ** (n - 1 - i) for i in range(n)]  # at 4, 8, ..., S/2 pixels
        self.label_emb = LabelEmbedding(tuple(cond_classes), latent_dim) if cond_classes else None
        cin = 2 * latent_dim if cond_classes else latent_dim
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cin, widths[0], BASE, 1, 0, bias=False),  # (B, w0, 4, 4)
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for cur, nxt in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(cur, nxt, 4, 2, 1, bias=False),  # doubles the side
                nn.BatchNorm2d(nxt),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """z (B, latent_dim), cond (B, A) or None -> (B, channels, S, S)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        if self.label_emb is not None:
            z = torch.cat([z, self.label_emb(cond, z.shape[0]).to(z.dtype)], dim=1)  # (B, 2 L)
        elif cond is not None:
            raise ValueError("cond given to an unconditional DCGANGenerator")
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Image (B, C, S, S) [+ labels] -> logits (B,): DCGAN with a projection head (Miyato 2018)."""

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        width: int = 64,
        spectral_norm: bool = False,
        cond_classes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.channels = channels
        n = num_stages(image_size)
        widths = [width * 2**i for i in range(n)]  # at S/2, S/4, ..., 4 pixels

        def wrap(layer: nn.Conv2d | nn.Linear) -> nn.Module:
            return sn(layer) if spectral_norm else layer

        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, widths[0], 4, 2, 1)), act()]
        for cur, nxt in itertools.pairwise(widths):
            layers.append(wrap(nn.Conv2d(cur, nxt, 4, 2, 1, bias=spectral_norm)))  # halves
            if not spectral_norm:
                layers.append(nn.BatchNorm2d(nxt))
            layers.append(act())
        self.features = nn.Sequential(*layers)  # (B, w_last, 4, 4)
        self.head = wrap(nn.Linear(widths[-1] * BASE * BASE, 1))  # = DCGAN's final 4x4 conv
        self.label_emb = LabelEmbedding(tuple(cond_classes), widths[-1]) if cond_classes else None
        if not spectral_norm:  # spectral norm rescales the weights itself
            self.apply(dcgan_init)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """x (B, C, S, S), cond (B, A) or None -> logits (B,)."""
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.image_size, self.image_size):
            raise ValueError(
                f"expected (B, {self.channels}, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}"
            )
        h = self.features(x)  # (B, w, 4, 4)
        logits = self.head(h.flatten(1)).squeeze(1)  # (B,)
        if self.label_emb is not None:
            pooled = h.sum(dim=(2, 3))  # (B, w): global sum pooling (Miyato & Koyama 2018)
            logits = logits + (self.label_emb(cond, x.shape[0]) * pooled).sum(dim=1)
        elif cond is not None:
            raise ValueError("cond given to an unconditional DCGANDiscriminator")
        return logits


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2016's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02).

    PyTorch's default (Kaiming-uniform) start let the discriminator win within a few hundred
    images on the built-in data, leaving the generator no gradient to learn from.
    """
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def act() -> nn.LeakyReLU:
    """DCGAN's discriminator activation, LeakyReLU(0.2)."""
    return nn.LeakyReLU(0.2, inplace=True)
