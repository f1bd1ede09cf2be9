"""How hard is the built-in dataset? Train a small detector on train and report dev accuracy
overall, by location, by tumour size and by contrast. The scenario wants ~90% overall (not 99%)
and a worse brainstem (rare in train, common in dev). The peer in the same run is the detector
trained on the clean images, which shows how much of the difficulty is noise and bias.

The detector is a two-level U-Net trained on the tumour masks (pixel supervision, as the region
extraction part of the tumour-detection pipeline will be); a slice is called a tumour when its
maximum pixel probability exceeds a threshold chosen on 10% of train held out from fitting. Run:

    python benchmarks/bench_data_difficulty.py [--data DIR] [--epochs 5] [--n-train 8000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv + batch norm + ReLU layers."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class SmallUNet(nn.Module):
    """A two-level U-Net: (B, 1, H, W) image -> (B, 1, H, W) tumour logits."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.enc1, self.enc2 = conv_block(1, width), conv_block(width, 2 * width)
        self.mid = conv_block(2 * width, 4 * width)
        self.dec2, self.dec1 = conv_block(6 * width, 2 * width), conv_block(3 * width, width)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.enc1(x)  # (B, w, H, W)
        b = self.enc2(F.max_pool2d(a, 2))  # (B, 2w, H/2, W/2)
        c = self.mid(F.max_pool2d(b, 2))  # (B, 4w, H/4, W/4)
        b = self.dec2(torch.cat([F.interpolate(c, scale_factor=2.0), b], 1))
        a = self.dec1(torch.cat([F.interpolate(b, scale_factor=2.0), a], 1))
        return self.head(a)


def train_and_score(root: Path, array: str, epochs: int, seed: int = 0) -> pd.DataFrame:
    """Train on the train split of `array`; return the dev table with a `correct` column."""
    torch.manual_seed(seed)
    ds = open_dataset(root)
    images = torch.from_numpy(np.array(ds.array(array))).unsqueeze(1)  # (N, 1, H, W)
    masks = torch.from_numpy(np.array(ds.array("tumour_mask"))).unsqueeze(1).float()
    rng = np.random.default_rng(seed)
    train = rng.permutation(np.flatnonzero(ds.meta["split"] == "train"))
    train, calibration = train[len(train) // 10 :], train[: len(train) // 10]
    dev = np.flatnonzero(ds.meta["split"] == "dev")
    model = SmallUNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    pos_weight = torch.tensor(20.0)  # tumour pixels are rare; weigh them up
    for _ in range(epochs):
        model.train()
        order = rng.permutation(train)
        for i in range(0, len(order) - 31, 32):
            batch = order[i : i + 32]
            logits = model(images[batch])
            loss = F.binary_cross_entropy_with_logits(logits, masks[batch], pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    labels = ds.meta["label"].to_numpy()
    held_out = slice_scores(model, images[calibration])
    candidates = np.unique(held_out)
    accuracy = [((held_out > c) == labels[calibration]).mean() for c in candidates]
    threshold = candidates[int(np.argmax(accuracy))]
    table = ds.meta.iloc[dev].copy()
    table["correct"] = (slice_scores(model, images[dev]) > threshold) == labels[dev]
    return table


def slice_scores(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Each slice's maximum tumour probability."""
    with torch.no_grad():
        chunks = [model(images[i : i + 250]) for i in range(0, len(images), 250)]
    return torch.sigmoid(torch.cat(chunks)).amax((1, 2, 3)).numpy()


def breakdown(table: pd.DataFrame, by: str | pd.Series) -> pd.Series:
    """Accuracy per group of tumour slices."""
    tumours = table[table["label"] == 1]
    return tumours.groupby(by, observed=True)["correct"].mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="an existing dataset (default: make one)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=8000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp) / "data"
        if args.data is None:
            make_dataset(root, DataConfig(n_train=args.n_train, n_test=0))
        t0 = time.perf_counter()
        noisy = train_and_score(root, "images", args.epochs)
        clean = train_and_score(root, "clean", args.epochs)
    print(f"small U-Net detector, {args.epochs} epochs, {time.perf_counter() - t0:.0f} s\n")
    overall = pd.DataFrame(
        {
            "noisy images": [noisy["correct"].mean(), noisy[noisy["label"] == 0]["correct"].mean()],
            "clean images (peer)": [
                clean["correct"].mean(),
                clean[clean["label"] == 0]["correct"].mean(),
            ],
        },
        index=["dev accuracy", "healthy slices"],
    )
    print(overall.round(3).to_string(), "\n(scenario target: ~0.90 on the noisy images)\n")
    tumours = noisy[noisy["label"] == 1]
    for title, key in (
        ("location", "location"),
        ("size (pixels)", pd.cut(tumours["tumour_px"], [0, 4, 10, 25, 60, 10_000])),
        ("contrast", pd.cut(tumours["tumour_contrast"], [0, 0.1, 0.2, 0.4, 1.0])),
    ):
        table = pd.DataFrame(
            {"noisy": breakdown(noisy, key), "clean (peer)": breakdown(clean, key)}
        )
        table["n"] = tumours.groupby(key, observed=True).size()
        print(f"tumour recall by {title}\n{table.round(3).to_string()}\n")


if __name__ == "__main__":
    main()
