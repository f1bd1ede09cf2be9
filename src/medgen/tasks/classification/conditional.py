"""A conditional diffusion run as the class denoiser D(x, sigma, c) the diffusion classifier needs.

The classes are the values one conditioning attribute was trained on (e.g. tumour_type: benign,
malignant, none); the other attributes stay at the null label of classifier-free dropout, so
D(x, sigma, c) is the model's estimate of p(x | attribute = c) with the rest marginalised.
Images are in [0, 1]; inside the model they live in [-1, 1], and since |eps - eps_c|^2 does
not change with the units, the classifier runs in the model's units with its noise levels.
A joint (image, mask) model is refused: at classification time the mask is unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from medgen.devices import default_device, device_of
from medgen.exceptions import InputError
from medgen.models import DiffusionModel, GenerativeModel
from medgen.models.common import to_signed
from medgen.tasks.classification.bayes import ClassDenoiser


class ConditionalDenoiser(NamedTuple):
    """A class denoiser on [-1, 1] images and what its class indices mean."""

    denoiser: ClassDenoiser  # D(x (B, 1, H, W) in [-1, 1], sigma (B,), c (B,) 0..K-1)
    label: str  # the metadata column the classes are values of
    classes: tuple[str, ...]  # class c is classes[c]
    sigma_min: float  # the model's noise levels, [-1, 1] units
    sigma_max: float
    image_size: int
    parameters: int  # trainable parameters of the network


def class_denoiser(model: GenerativeModel, label: str, where: str | Path) -> ConditionalDenoiser:
    """Model `model` (from run `where`) as a denoiser conditioned on the values of `label`;
    InputError for a model that cannot classify by `label`."""
    if not isinstance(model, DiffusionModel):
        family = getattr(model, "family", type(model).__name__)
        raise InputError(where, f"holds a {family} model; the classifier needs a diffusion model")
    c = model.config
    if model.vae is not None:
        raise InputError(where, "is a latent diffusion model; the classifier needs pixel space")
    if not c.conditioning.names:
        raise InputError(
            where, "holds an unconditional diffusion model; train one with --cond " + label
        )
    if label not in c.conditioning.names:
        known = ", ".join(c.conditioning.names)
        raise InputError(where, f"was not conditioned on {label!r} (conditioned on: {known})")
    if c.channels != 1:
        raise InputError(
            where,
            f"models {c.channels}-channel (image, mask) data; the classifier needs an image-only "
            "model, as the mask is unknown at classification time",
        )
    net = model.denoiser
    slot = c.conditioning.names.index(label)
    n_labels = len(c.conditioning.names)
    device = device_of(net)

    @torch.no_grad()
    def denoise(x: Tensor, sigma: Tensor, cls: Tensor) -> Tensor:
        cond = torch.zeros(len(x), n_labels, dtype=torch.long, device=device)
        cond[:, slot] = cls.to(device) + 1  # 0 is the null label
        out = net(x.to(device), sigma.to(device=device, dtype=x.dtype), cond)
        return out.to(x.device)

    vocab = tuple(c.conditioning.vocab[slot])
    size = sum(p.numel() for p in net.parameters())
    return ConditionalDenoiser(denoise, label, vocab, c.sigma_min, c.sigma_max, c.image_size, size)


def open_class_denoiser(run: str | Path, label: str) -> ConditionalDenoiser:
    """The diffusion model of run folder `run`, as a denoiser conditioned on `label`."""
    from medgen.train.generate import open_run

    return class_denoiser(open_run(run).eval().to(default_device()), label, run)


def signed(images: Tensor) -> Tensor:
    """(N, H, W) [0, 1] slices -> (N, 1, H, W) in the model's [-1, 1]."""
    return to_signed(images[:, None])
