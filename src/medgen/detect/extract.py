"""Part 2 of the detector, `extract`: find the tumour region and describe it.

A MONAI U-Net segments the preprocessed slice into a tumour-probability map; the region is the
connected component of p > 1/2 around the most probable pixel (none when no pixel reaches 1/2);
its features are what a radiologist reads off a lesion: size, how it stands out from its
surroundings, whether its rim is brighter than its core (enhancement), how irregular its outline
is, and where it sits. The perfect output that error analysis by parts substitutes is the true
tumour mask with probability 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import UNet
from scipy import ndimage
from skimage.measure import regionprops
from torch import Tensor, nn

from medgen.devices import device_of, in_layout
from medgen.exceptions import SettingError
from medgen.validate import in_range, positive, random_seed, whole, whole_numbers

FEATURES = (
    "found",
    "peak_probability",
    "mean_probability",
    "log_area",
    "inside_intensity",
    "contrast",
    "inside_std",
    "rim_minus_core",
    "compactness",
    "centroid_row",
    "centroid_col",
)
REGION_LEVEL = 0.5  # probability that makes a pixel part of a region


@dataclass(frozen=True)
class ExtractConfig:
    """The segmentation network and how it is trained."""

    channels: tuple[int, ...] = (16, 32, 64)
    strides: tuple[int, ...] = (2, 2)
    steps: int = 3000
    batch_size: int = 32
    lr: float = 5e-3
    pos_weight: float = 20.0  # tumour pixels are ~1% of a slice: weigh them up in the BCE
    # Training windows' side as a share of the slice's (1: whole slices). Half-side windows cost
    # a quarter of a step: on a 2-core CPU, 3,200 window steps found 0.92 of dev tumours against
    # 0.84 for 800 whole-slice steps in about the same time (experiments/scenario/NOTES.md).
    window: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        whole_numbers("channels", self.channels, 1)
        whole_numbers("strides", self.strides, 1, empty=True)
        if len(self.strides) != len(self.channels) - 1:
            raise SettingError(
                "strides",
                f"has {len(self.strides)} entries; channels has {len(self.channels)} levels, "
                "which need one stride per level below the first",
            )
        whole("steps", self.steps, 1)
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        positive("pos_weight", self.pos_weight)
        in_range("window", self.window, 0.0, 1.0, open_low=True)
        random_seed("seed", self.seed)


def segmentation_net(config: ExtractConfig) -> nn.Module:
    """A 2-D MONAI U-Net: (B, 1, H, W) preprocessed slice -> (B, 1, H, W) tumour logits."""
    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=tuple(config.channels),
        strides=tuple(config.strides),
        num_res_units=1,
        norm="batch",
    )


@dataclass(frozen=True)
class WindowCentres:
    """Per slice, the pixels a training window may centre on: its tumour pixels, else its brain
    pixels (nonzero), else the slice's centre; all slices' (K, 2) rows in one tensor, slice
    i's from start[i] on, count[i] of them. Found once, not at every step."""

    pixels: Tensor
    start: Tensor
    count: Tensor


def window_centres(x: Tensor, y: Tensor) -> WindowCentres:
    """The `WindowCentres` of slices x and masks y (N, 1, H, W)."""
    h, w = x.shape[-2:]
    centres = []
    for image, mask in zip(x, y, strict=True):
        where = torch.nonzero(mask[0] > 0.5)
        if where.shape[0] == 0:
            where = torch.nonzero(image[0] > 0)
        if where.shape[0] == 0:
            where = torch.tensor([[h // 2, w // 2]])
        centres.append(where)
    count = torch.tensor([len(c) for c in centres])
    start = torch.cumsum(count, 0) - count
    return WindowCentres(torch.cat(centres), start, count)


def training_windows(
    x: Tensor,
    y: Tensor,
    pick: Tensor,
    centres: WindowCentres,
    size: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """(B, 1, size, size) windows of slices x[pick] and masks y[pick] (x, y: (N, 1, H, W)),
    each around a random one of its slice's `centres`, off-centre by up to size/4; cut for the
    whole batch at once by gathering."""
    h, w = x.shape[-2:]
    draw = torch.rand(len(pick), generator=generator, dtype=torch.float64)
    which = centres.start[pick] + (draw * centres.count[pick]).long().clamp_max(
        centres.count[pick] - 1
    )
    centre = centres.pixels[which]  # (B, 2)
    shift = torch.randint(-(size // 4), size // 4 + 1, (len(pick), 2), generator=generator)
    corner = centre - size // 2 + shift
    top = corner[:, 0].clamp(0, h - size)
    left = corner[:, 1].clamp(0, w - size)
    span = torch.arange(size)
    rows = (top[:, None] + span)[:, :, None]  # (B, size, 1)
    cols = (left[:, None] + span)[:, None, :]  # (B, 1, size)
    batch = pick[:, None, None]
    return x[batch, 0, rows, cols].unsqueeze(1), y[batch, 0, rows, cols].unsqueeze(1)


def cosine_factor(step: int, steps: int) -> float:
    """The share of the base learning rate at `step` of `steps` (0-based): a half cosine from 1
    down towards 0 (Loshchilov & Hutter 2017, without restarts).

    Why: at a constant rate the net ends wherever its last noisy steps left it. Trained so on the
    uniform world, one seed's net found 0.90 of dev brainstem tumours and put a region on 83% of
    healthy slices; decayed, the same seed found 0.99 and marked 33%
    (experiments/scenario/NOTES.md)."""
    return 0.5 * (1.0 + math.cos(math.pi * step / steps))


def train_segmentation(
    net: nn.Module,
    images: np.ndarray,
    masks: np.ndarray,
    config: ExtractConfig,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, float]:
    """Adam on pixel BCE (tumour pixels weighted up) for config.steps random batches, each
    slice cut to a window around its tumour (`training_windows`) unless config.window is 1; the
    learning rate decays from config.lr along `cosine_factor`.

    The net trains where its parameters are; the examples stay on the CPU, a batch at a time
    moves (the batch indices come from a CPU generator: the same draws on every device). It
    trains in channels-last layout, which lets oneDNN spread these small convolutions over
    the CPU's threads (a step takes about 0.6 times as long on two cores), and is handed back
    in the default layout, which is what safetensors saves.
    """
    generator = torch.Generator().manual_seed(config.seed)
    device = device_of(net)
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(masks.astype(np.float32)).unsqueeze(1)
    size = round(config.window * min(x.shape[-2:]))
    windowed = 0 < size < min(x.shape[-2:])
    centres = window_centres(x, y) if windowed else None
    in_layout(net, torch.channels_last)
    # foreach: one kernel per step for all parameters, the same numbers as the loop, faster
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, foreach=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: cosine_factor(step, config.steps)
    )
    weight = torch.tensor(config.pos_weight, device=device)
    start, loss = time.perf_counter(), torch.zeros(())
    net.train()
    for step in range(config.steps):
        pick = torch.randint(x.shape[0], (config.batch_size,), generator=generator)
        if centres is None:
            xb, yb = x[pick], y[pick]
        else:
            xb, yb = training_windows(x, y, pick, centres, size, generator)
        xb = xb.to(device, memory_format=torch.channels_last)
        logits = net(xb)
        loss = F.binary_cross_entropy_with_logits(logits, yb.to(device), pos_weight=weight)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, float(loss.detach()))
    in_layout(net, torch.contiguous_format)
    net.eval()
    return {"final_loss": float(loss.detach()), "seconds": time.perf_counter() - start}


@torch.no_grad()
def probabilities(net: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Tumour probability maps (N, H, W) float32 of preprocessed slices (N, H, W), computed in
    channels-last layout as the net trains (`train_segmentation`); the net is handed back in
    the default layout."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    device = device_of(net)
    in_layout(net, torch.channels_last)
    try:
        parts: list[Tensor] = [
            torch.sigmoid(net(chunk.to(device, memory_format=torch.channels_last))).cpu()
            for chunk in x.split(batch_size)
        ]
    finally:
        in_layout(net, torch.contiguous_format)
    return torch.cat(parts)[:, 0].contiguous().numpy()


def region_of(probability: np.ndarray) -> np.ndarray:
    """The component of p > REGION_LEVEL holding the most probable pixel (empty if none)."""
    above = probability > REGION_LEVEL
    if not above.any():
        return np.zeros(probability.shape, dtype=bool)
    labels, _ = ndimage.label(above)
    peak = np.unravel_index(int(np.argmax(probability)), probability.shape)
    return np.asarray(labels == labels[peak])


def compactness(region: np.ndarray) -> float:
    """4 pi area / perimeter^2 of a boolean region, 1 for a disc and less for any other outline,
    with scikit-image's perimeter estimate (Benkrid & Crookes' weighted boundary pixels, which
    gives 0.93-0.98 for digital discs of radius 3-12). A region of a few pixels has no outline
    to speak of, and its estimate can pass 1: it is capped there."""
    (props,) = regionprops(region.astype(np.uint8))
    if props.perimeter == 0:  # a single pixel
        return 1.0
    return min(4 * math.pi * float(props.area) / float(props.perimeter) ** 2, 1.0)


def region_features(image: np.ndarray, probability: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The FEATURES of one region on its preprocessed slice (zeros but the peak if none)."""
    h, w = image.shape
    features = np.zeros(len(FEATURES), dtype=np.float32)
    features[1] = float(probability.max())
    area = int(region.sum())
    if area == 0:
        return features
    inside = image[region]
    ring = ndimage.binary_dilation(region, iterations=2) & ~region
    core = ndimage.binary_erosion(region)
    rim = region & ~core
    rows, cols = np.nonzero(region)
    features[:] = (
        1.0,
        features[1],
        float(probability[region].mean()),
        math.log1p(area),
        float(inside.mean()),
        float(inside.mean() - image[ring].mean()) if ring.any() else 0.0,
        float(inside.std()),
        float(image[rim].mean() - image[core].mean()) if core.any() else 0.0,
        compactness(region),
        rows.mean() / h,
        cols.mean() / w,
    )
    return features


def extract(images: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regions (N, H, W) bool and their features (N, F) from slices and probability maps."""
    regions = np.stack([region_of(p) for p in probability])
    features = np.stack(
        [region_features(x, p, r) for x, p, r in zip(images, probability, regions, strict=True)]
    )
    return regions, features


def perfect_extract(
    images: np.ndarray, masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The perfect part's outputs: the true masks as probability maps, regions and features."""
    probability = masks.astype(np.float32)
    regions, features = extract(images, probability)
    return probability, regions, features
