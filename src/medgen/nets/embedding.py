"""Conditioning embeddings: the noise level (EDM's positional embedding) and categorical labels.

`NoiseEmbedding` follows Karras et al. 2022's DDPM++ "positional" embedding (sinusoids of the
noise conditioning c_noise, then a 2-layer MLP); `LabelEmbedding` sums one learnable table per
attribute, index 0 of each being the learnable null label used by classifier-free guidance
(Ho & Salimans 2022).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_features(c_noise: Tensor, dim: int, max_positions: float = 10_000.0) -> Tensor:
    """(B,) -> (B, dim) [cos, sin] features at frequencies 1 .. 1/max_positions (Vaswani 2017)."""
    half = dim // 2
    exponent = torch.arange(half, device=c_noise.device, dtype=torch.float32) / max(half - 1, 1)
    freqs = torch.exp(-math.log(max_positions) * exponent)  # (half,), 1 down to 1/max_positions
    args = c_noise.float()[:, None] * freqs[None, :]  # (B, half)
    features = torch.cat([args.cos(), args.sin()], dim=1)  # (B, 2 half)
    if dim % 2:
        features = nn.functional.pad(features, (0, 1))
    return features


class NoiseEmbedding(nn.Module):
    """c_noise (B,) -> (B, dim): sinusoids then Linear-SiLU-Linear (Karras et al. 2022, DDPM++).

    c_noise may be EDM's ln(sigma)/4 (a few units wide: the highest frequencies resolve it) or a
    DDPM timestep 0..999 (the lower frequencies resolve it); both are continuous.
    """

    def __init__(self, dim: int, max_positions: float = 10_000.0) -> None:
        super().__init__()
        self.dim = dim
        self.max_positions = max_positions  # inverse of the lowest sinusoid frequency
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, c_noise: Tensor) -> Tensor:
        """(B,) -> (B, dim)."""
        if c_noise.ndim != 1:
            raise ValueError(f"noise level must have shape (B,), got {tuple(c_noise.shape)}")
        features = sinusoidal_features(c_noise, self.dim, self.max_positions)  # (B, dim)
        return self.fc2(nn.functional.silu(self.fc1(features.to(self.fc1.weight.dtype))))


class LabelEmbedding(nn.Module):
    """cond (B, A) int64 -> (B, dim): the sum over attributes a of a (K_a + 1)-row table.

    cond[:, a] = 0 is attribute a's learnable null label ("no condition", for classifier-free
    guidance, Ho & Salimans 2022), 1..K_a its classes; cond=None means all attributes null.
    """

    def __init__(self, cond_classes: tuple[int, ...], dim: int) -> None:
        super().__init__()
        if not cond_classes or any(k < 1 for k in cond_classes):
            raise ValueError(f"cond_classes must be a non-empty tuple of ints >= 1: {cond_classes}")
        self.cond_classes = tuple(cond_classes)
        self.dim = dim
        self.tables = nn.ModuleList(nn.Embedding(k + 1, dim) for k in self.cond_classes)

    def forward(self, cond: Tensor | None, batch_size: int | None = None) -> Tensor:
        """(B, A) labels, or None with batch_size B for all-null -> (B, dim)."""
        if cond is None:
            if batch_size is None:
                raise ValueError("LabelEmbedding needs batch_size when cond is None")
            device = next(self.parameters()).device
            cond = torch.zeros(batch_size, len(self.cond_classes), dtype=torch.long, device=device)
        check_cond(cond, self.cond_classes)
        embeddings = [table(cond[:, a]) for a, table in enumerate(self.tables)]  # A x (B, dim)
        return torch.stack(embeddings).sum(dim=0)  # (B, dim)


def check_cond(cond: Tensor, cond_classes: tuple[int, ...]) -> None:
    """Raise ValueError unless cond is an integer (B, A) tensor with A = len(cond_classes)."""
    if cond.ndim != 2 or cond.shape[1] != len(cond_classes):
        raise ValueError(
            f"cond must have shape (B, {len(cond_classes)}) for cond_classes {cond_classes}, "
            f"got {tuple(cond.shape)}"
        )
    if cond.dtype.is_floating_point or cond.dtype == torch.bool:
        raise ValueError(f"cond must hold integer labels, got dtype {cond.dtype}")
