"""Exact resume with the real families: two sessions end bit-identical to one (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from medgen.models import GAN, DiffusionConfig, DiffusionModel, GANConfig, GenerativeModel
from medgen.nets import UNetConfig
from medgen.tensorio import load_tensors
from medgen.train import TrainConfig, train


class Blobs(Dataset[dict[str, torch.Tensor]]):
    """16 fixed 16x16 images in [0, 1]."""

    def __init__(self) -> None:
        self.images = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "index": torch.tensor(i)}


def family(name: str) -> GenerativeModel:
    torch.manual_seed(0)
    if name == "diffusion":  # EMA and the DSM loss's noise draws
        unet = UNetConfig(channels=(8, 16), attention_levels=(False, False), num_head_channels=8)
        return DiffusionModel(DiffusionConfig(image_size=16, unet=unet, sigma_max=10.0, steps=2))
    return GAN(GANConfig(image_size=16, latent_dim=8, width=8))  # two phases


@pytest.mark.parametrize("name", ["diffusion", "gan"])
def test_two_sessions_equal_one(name: str, tmp_path: Path) -> None:
    def config(steps: int) -> TrainConfig:
        return TrainConfig(
            batch_size=4, budget=f"{steps}steps", checkpoint_every=3, log_every=1, sample_count=4
        )

    train(family(name), Blobs(), tmp_path / "one", config(7), progress=False)
    train(family(name), Blobs(), tmp_path / "two", config(3), progress=False)
    train(family(name), Blobs(), tmp_path / "two", config(7), resume=True, progress=False)
    one = load_tensors(tmp_path / "one" / "model" / "model.safetensors")
    two = load_tensors(tmp_path / "two" / "model" / "model.safetensors")
    assert one.keys() == two.keys()
    assert all(torch.equal(one[k], two[k]) for k in one)
    for ckpt in ("step-00000006",):
        a = load_tensors(tmp_path / "one" / "checkpoints" / ckpt / "model.safetensors")
        b = load_tensors(tmp_path / "two" / "checkpoints" / ckpt / "model.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a)
