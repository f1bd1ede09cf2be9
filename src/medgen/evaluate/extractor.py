"""A feature space as medgen uses it (`Extractor`: images in [0, 1] to features, with a stable
name), and the two kinds that come from outside medgen: a `torch.export` program and local
weights of torchmetrics' FID Inception. medgen's own extractor is in `medgen.evaluate.features`."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medgen.exceptions import InputError


def weights_id(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of a weights file: the feature space's version."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class Extractor:
    """A feature space: images (N, C, H, W) in [0, 1] -> features (N, D), with a stable name."""

    def __init__(
        self,
        module: Callable[[Tensor], Tensor],
        name: str,
        image_size: int | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        self.module = module
        self.name = name  # e.g. "medgen:3f2a9c01b2de", recorded next to every distance
        self.image_size = image_size  # None: any size
        self.record = record or {}  # extractor.json of a medgen extractor

    @torch.no_grad()
    def __call__(self, images: Tensor | np.ndarray, batch_size: int = 256) -> Tensor:
        """Features (N, D) float64 of images (N, H, W) or (N, C, H, W) in [0, 1]."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4:
            raise ValueError(
                f"features need images (N, H, W) or (N, C, H, W), got {tuple(x.shape)}"
            )
        if self.image_size is not None and x.shape[-1] != self.image_size:
            raise ValueError(
                f"the {self.name} features were trained on {self.image_size}-pixel images, "
                f"got {x.shape[-1]} pixels"
            )
        return torch.cat([self.module(part).double() for part in x.split(batch_size)])


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Silence logger `name` below ERROR for the block (its warnings would be extra lines)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_exported(path: Path) -> Extractor:
    """A `torch.export` program file mapping images in [0, 1] to (N, D) features."""
    if not path.is_file():
        raise InputError(path, "no such exported-program file")
    try:
        with quiet_logger("torch.export"):  # it logs a traceback before it raises
            module = torch.export.load(str(path)).module()
    except Exception as err:  # torch raises many types for a file that is not a program
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(path, f"is not a torch.export program ({first_line})") from None
    return Extractor(module, f"export:{weights_id(path)}")


def load_inception(path: Path) -> Extractor:
    """torchmetrics' FID InceptionV3 (2048-d pool features) from a local weights file."""
    if not path.is_file():
        raise InputError(path, "no such Inception weights file")
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError:  # torchmetrics raises it when torch-fidelity is missing
        raise InputError("inception:", "needs torch-fidelity: pip install torch-fidelity") from None
    try:
        net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(path),
        ).eval()
    except Exception as err:  # any failure here means a bad weights file
        raise InputError(path, f"cannot be loaded as Inception weights ({err})") from None

    def features(images: Tensor) -> Tensor:
        rgb = (images.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)
        return net(rgb).reshape(images.shape[0], -1)

    return Extractor(features, f"inception:{weights_id(path)}")
