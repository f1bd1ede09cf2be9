"""Small pieces the three families share: the data's range, conditions, configs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from medgen.draws import rand
from medgen.exceptions import SettingError
from medgen.models.protocol import Batch
from medgen.validate import in_range, shown, texts


@dataclass
class Conditioning:
    """Categorical attributes a model is conditioned on, e.g. tumour type and location.

    `names[a]` is the metadata column of attribute a and `vocab[a]` its values; a model sees
    attribute a as an integer in 0..len(vocab[a]), where 0 is "no condition" (classifier-free
    guidance's null label) and i >= 1 is `vocab[a][i - 1]`.
    """

    names: tuple[str, ...] = ()
    vocab: tuple[tuple[str, ...], ...] = ()
    drop_prob: float = 0.1  # chance a training example's labels are all replaced by null (CFG)

    def __post_init__(self) -> None:
        texts("names", self.names)
        if not isinstance(self.vocab, Sequence) or isinstance(self.vocab, str):
            raise SettingError(
                "vocab", f"expected one list of values per name, got {shown(self.vocab)}"
            )
        for values in self.vocab:
            texts("vocab", values)
        if len(self.names) != len(self.vocab):
            raise SettingError(
                "vocab", f"{len(self.names)} condition names but {len(self.vocab)} vocabularies"
            )
        in_range("drop_prob", self.drop_prob, 0.0, 1.0)

    @property
    def classes(self) -> tuple[int, ...]:
        """Number of classes per attribute, not counting the null label."""
        return tuple(len(v) for v in self.vocab)

    def encode(self, values: dict[str, str]) -> list[int]:
        """Labels (A,) for {name: value}; attributes left out are null (0)."""
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            known = ", ".join(self.names) or "none: the model is unconditional"
            raise ValueError(f"unknown condition {unknown[0]!r} (known: {known})")
        labels = []
        for name, vocab in zip(self.names, self.vocab, strict=True):
            value = values.get(name)
            if value is not None and value not in vocab:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(vocab)}")
            labels.append(0 if value is None else vocab.index(value) + 1)
        return labels


def to_signed(images: Tensor) -> Tensor:
    """[0, 1] data -> [-1, 1], the range the networks work in."""
    return images * 2.0 - 1.0


def to_unit(x: Tensor) -> Tensor:
    """[-1, 1] network output -> [0, 1] data range, clipped."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def batch_images(batch: Batch, module: nn.Module) -> Tensor:
    """The batch's images (B, C, H, W) in [-1, 1], on the module's device and dtype."""
    param = next(module.parameters())
    return to_signed(batch["image"].to(device=param.device, dtype=param.dtype))


def batch_cond(batch: Batch, conditioning: Conditioning, module: nn.Module) -> Tensor | None:
    """The batch's labels (B, A) int64, or None for an unconditional model."""
    if not conditioning.names:
        return None
    if "cond" not in batch:
        raise ValueError("the model is conditional but the batch has no 'cond' labels")
    return batch["cond"].to(device=next(module.parameters()).device, dtype=torch.long)


def drop_labels(cond: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """cond with each example's labels set to null (0) with probability p (CFG training)."""
    if p <= 0:
        return cond
    keep = rand((cond.shape[0],), generator, device=cond.device) >= p  # (B,)
    return cond * keep.unsqueeze(1).to(cond.dtype)


def conditioning_of(model: object) -> Conditioning | None:
    """The model's Conditioning, if its family has one."""
    return getattr(getattr(model, "config", None), "conditioning", None)
