"""The domain extractor's network and what it is taught: metadata heads and lesion supervision.

`DomainFeatureNet` embeds an image with `medgen.nets.ConvEncoder` (one global-pooled vector per
image, the space of the distances). Heads on the embedding predict the slice's tumour type and
location (cross-entropy) and slice level, noise and bias (standardised squared error). The
optional lesion heads point the encoder at the tumour: one predicts tumour presence from the
embedding (binary cross-entropy), and a training-only 1x1-conv head on an inner feature map
predicts the tumour mask max-pooled to that map's resolution, a dense signal that says where a
lesion of a few low-contrast pixels is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen.nets.encoder import ConvEncoder

CLASS_TARGETS = ("tumour_type", "location")  # categorical metadata the embedding must predict
VALUE_TARGETS = ("source_z", "noise_sigma", "bias_strength")  # numeric metadata, standardised
UNKNOWN = {"unknown", "", "nan"}


@dataclass
class Targets:
    """What the heads predict: class vocabularies, mean/std of each value, presence and mask."""

    classes: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, tuple[float, float]] = field(default_factory=dict)
    presence: bool = False  # a head predicts the binary tumour label from the embedding
    mask: bool = False  # a training-only head predicts the pooled tumour mask


class Encoded(NamedTuple):
    """Per-slice targets as tensors; unknown entries are -1 (classes) or NaN (the rest)."""

    classes: Tensor  # (N, A) long
    values: Tensor  # (N, V) float32, standardised
    presence: Tensor  # (N,) float32, 1 tumour, 0 none


class Embedded(NamedTuple):
    """The embedding of a batch and the inner feature map the mask head reads."""

    features: Tensor  # (B, D)
    inner: Tensor  # (B, C, H / 2^mask_stage, W / 2^mask_stage)


def find_targets(meta: Any, presence: bool = True, mask: bool = False) -> Targets:
    """The targets the training table can teach: >= 2 known classes, or a spread of values.

    `presence` asks for the tumour label (taught only if both 0 and 1 occur); `mask` says the
    data hold tumour masks, used where the label is known.
    """
    targets = Targets()
    for name in CLASS_TARGETS:
        known = sorted(set(meta[name].astype(str)) - UNKNOWN)
        if len(known) >= 2:
            targets.classes[name] = known
    for name in VALUE_TARGETS:
        values = meta[name].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size >= 2 and values.std() > 0:
            targets.values[name] = (float(values.mean()), float(values.std()))
    labels = set(meta["label"].astype(int))
    targets.presence = presence and {0, 1} <= labels
    targets.mask = mask and bool(labels & {0, 1})
    return targets


def encode_targets(meta: Any, targets: Targets) -> Encoded:
    """The targets of each row of `meta` as tensors (unknown: -1 or NaN)."""
    n = len(meta)
    classes = torch.full((n, len(targets.classes)), -1, dtype=torch.long)
    for j, (name, vocab) in enumerate(targets.classes.items()):
        index = {v: i for i, v in enumerate(vocab)}
        codes = [index.get(v, -1) for v in meta[name].astype(str)]
        classes[:, j] = torch.tensor(codes, dtype=torch.long)
    values = torch.full((n, max(len(targets.values), 1)), math.nan, dtype=torch.float32)
    for j, (name, (mean, std)) in enumerate(targets.values.items()):
        column = meta[name].to_numpy(dtype=np.float64)
        values[:, j] = torch.from_numpy((column - mean) / std).float()
    label = torch.from_numpy(meta["label"].to_numpy(dtype=np.float32))
    presence = torch.where(label >= 0, label, torch.full_like(label, math.nan))
    return Encoded(classes, values, presence)


def pooled_mask(masks: Tensor, stage: int) -> Tensor:
    """Masks (N, 1, H, W) max-pooled to (N, 1, H / 2^stage, W / 2^stage): a cell holds lesion
    if any of its pixels does, so a lesion smaller than a cell still marks it."""
    factor = 2**stage
    return F.max_pool2d(masks.float(), factor, factor)


class DomainFeatureNet(nn.Module):
    """ConvEncoder embedding with one head per target; forward() returns the embedding."""

    def __init__(
        self,
        targets: Targets,
        widths: tuple[int, ...],
        feature_dim: int,
        channels: int = 1,
        mask_stage: int = 2,
        pool: str = "mean",
    ) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, tuple(widths), feature_dim, pool)
        self.class_heads = nn.ModuleDict(
            {name: nn.Linear(feature_dim, len(v)) for name, v in targets.classes.items()}
        )
        self.value_head = nn.Linear(feature_dim, max(len(targets.values), 1))
        self.presence_head = nn.Linear(feature_dim, 1) if targets.presence else None
        self.mask_head = nn.Conv2d(widths[mask_stage - 1], 1, 1) if targets.mask else None
        self.mask_stage = mask_stage

    def forward(self, images: Tensor) -> Tensor:
        """Embedding (B, D) of images (B, C, H, W) in [0, 1]."""
        return self.encoder(images * 2.0 - 1.0)

    def embed(self, images: Tensor) -> Embedded:
        """The embedding and the inner map at `mask_stage`, for training."""
        return Embedded(*self.encoder.forward_with_map(images * 2.0 - 1.0, self.mask_stage))


class Weights(NamedTuple):
    """How much the presence and mask losses count beside the metadata heads."""

    presence: float
    mask: float


def target_loss(
    net: DomainFeatureNet,
    out: Embedded,
    batch: Encoded,
    masks: Tensor | None,
    weights: Weights,
) -> Tensor:
    """Sum of the heads' losses, each over the examples whose target is known.

    `masks` (B, 1, h, w) are the pooled tumour masks of the batch (see `pooled_mask`).
    """
    feats = out.features
    loss = feats.new_zeros(())
    for j, head in enumerate(net.class_heads.values()):
        known = batch.classes[:, j] >= 0
        if known.any():
            loss = loss + F.cross_entropy(head(feats[known]), batch.classes[known, j])
    known = torch.isfinite(batch.values)
    if known.any():
        loss = loss + F.mse_loss(net.value_head(feats)[known], batch.values[known])
    labelled = torch.isfinite(batch.presence)
    if net.presence_head is not None and labelled.any():
        logits = net.presence_head(feats[labelled]).squeeze(1)
        loss = loss + weights.presence * F.binary_cross_entropy_with_logits(
            logits, batch.presence[labelled]
        )
    if net.mask_head is not None and masks is not None and labelled.any():
        logits = net.mask_head(out.inner[labelled])
        loss = loss + weights.mask * F.binary_cross_entropy_with_logits(logits, masks[labelled])
    return loss


def tumour_score(net: DomainFeatureNet, targets: Targets, feats: Tensor) -> Tensor | None:
    """How strongly each embedding (N, D) says "tumour": the presence head's logit, else
    1 - P(tumour_type = none) from the type head, else None (nothing predicts presence)."""
    if net.presence_head is not None:
        return net.presence_head(feats).squeeze(1)
    vocab = targets.classes.get("tumour_type", [])
    if "none" not in vocab:
        return None
    return 1 - net.class_heads["tumour_type"](feats).softmax(dim=1)[:, vocab.index("none")]
