"""More training data for a failing slice, with tumour masks: from a generative model or from
classic transforms (the remedy loop's arms, *Machine Learning Yearning* ch. 14-16).

A detector whose extract part learns from tumour masks cannot use generated images alone, so
the generative arms learn (image, mask) pairs: the slice and its tumour mask are two channels of
one image (the mask in [0, 1], thresholded at 1/2 when sampled), conditioned on location and
tumour type (Dorjsembe et al. 2024 and Medfusion-style augmentation do the same with a mask
channel). They train with the rows of rare condition cells repeated (`condition_repeats`), and
the diffusion model's loss weighs the pixels near the mask more (`MASK_WEIGHT`), so that a rare
look, such as the brainstem's dark, non-enhancing tumours, is learned and not the majority's.

The same joint diffusion model can also draw a tumour into a given healthy slice under a given
mask (`inpaint_with_masks`): the mask channel and the pixels away from the mask are known, and
every step of the sampler is projected onto them, so the anatomy and the noise are a real scan's
and the mask is exactly where the drawn lesion is. Inside the redrawn pixels the model gives the
lesion and the base gives the grain (`with_base_grain`), as when a lesion is inserted into a
patient's scan: the noise belongs to the acquisition, and a small model paints its lesions
with more speckle than any real tumour has. Classic augmentation transforms the slice's
own training examples with MONAI's random affine (bilinear for the image, nearest for the mask),
flips and gamma.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from monai.transforms import Compose, RandAdjustContrastd, RandAffined, RandFlipd
from scipy import ndimage
from torch.utils.data import Subset

from medgen.data.conditions import AddConditions, condition_vocab
from medgen.data.dataset import SliceDataset
from medgen.data.store import StoredDataset, open_dataset
from medgen.devices import default_device
from medgen.diffusion import karras_sigmas, sample_projected
from medgen.diffusion.defaults import prior_std
from medgen.draws import randn
from medgen.exceptions import InputError
from medgen.models import GenerativeModel, noise_scales
from medgen.models.diffusion import DiffusionModel
from medgen.models.io import build_model
from medgen.train.generate import open_run
from medgen.train.loop import train
from medgen.train.recipe import RunConfig, conditioning_of
from medgen.train.rng import init_seed, seed_globals
from medgen.validate import in_range

INPAINT_MARGIN = 2  # pixels around the mask that are redrawn too (the lesion's ring, oedema)
GRAIN_SCALE_PX = 1.0  # detail finer than this Gaussian is grain: the scan's noise, not the lesion
CONDITIONS = ("location", "tumour_type")  # what the joint generators are conditioned on, and
APPEARANCE = ("enhancing",)  # these too where the data record them: a lesion's look is not
# learned from its location's few examples but composed from the many with the same appearance
JOINT_CHANNELS = 2  # channel 0 the slice, channel 1 its tumour mask
FAMILIES = ("diffusion", "gan")
SCALE_EXAMPLES = 512
DEFAULT_BALANCE = 0.5  # condition_repeats' exponent for the joint generators' training rows
MASK_WEIGHT = 20.0  # a joint diffusion model's extra loss weight near the mask (mask_loss_weights)


class StackMask:
    """SliceDataset transform: the tumour mask becomes the image's second channel."""

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        mask = (item.pop("tumour_mask") > 0).to(item["image"].dtype)
        item["image"] = torch.cat([item["image"], mask])  # (2, H, W)
        return item


class Both:
    """Apply two transforms in turn (StackMask, then the condition labels)."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        return self.second(self.first(item))


def joint_conditions(store: StoredDataset) -> tuple[str, ...]:
    """The condition names of a joint generator of `store`: CONDITIONS, and APPEARANCE's columns
    that the metadata has."""
    return CONDITIONS + tuple(name for name in APPEARANCE if name in store.meta)


def joint_training_set(
    store: StoredDataset, balance: float = 0.0, split: str = "train"
) -> SliceDataset | Subset[dict[str, Any]]:
    """The `split` as two-channel (slice, mask) images with their condition labels (the train
    split's vocabularies), each row repeated `condition_repeats(..., balance)` times (balance 0:
    every row once)."""
    names = joint_conditions(store)
    labels = AddConditions(store.meta, names, condition_vocab(store.split("train"), names))
    dataset = SliceDataset(
        store, split, arrays=("images", "tumour_mask"), transform=Both(StackMask(), labels)
    )
    if balance == 0.0:
        return dataset
    repeats = condition_repeats(dataset.meta, names, balance)
    return Subset(dataset, np.repeat(np.arange(len(dataset)), repeats).tolist())


def check_balance(balance: float, name: str = "balance") -> None:
    """Refuse a condition-repeat exponent outside [0, 1] (NaN included), naming it as `name`."""
    in_range(name, balance, 0.0, 1.0)


def condition_repeats(meta: pd.DataFrame, names: Sequence[str], balance: float) -> np.ndarray:
    """How many times each row of `meta` is shown per epoch, so that rare condition cells are
    seen more often: a row whose cell (its values of `names`) has n_c rows is repeated
    round((n_max / n_c) ** balance) times, n_max the largest cell's count. balance 0 leaves
    every row once; 0.5 is square-root sampling (Mahajan et al. 2018), which keeps frequent
    cells the more frequent; 1 shows every cell equally often.

    Why: trained on the data as they are, a generator sees a rare look in few batches. On the
    built-in data 97% of tumours enhance. With the mask-weighted loss, square-root repeats turned
    the joint arm's brainstem tumours from bright to dark like the real ones; without that loss
    they changed nothing (`experiments/remedy/remedy_generators.txt`)."""
    check_balance(balance)
    if not names:
        return np.ones(len(meta), dtype=np.int64)
    cells = meta[list(names)].astype(str).agg("\x1f".join, axis=1)
    counts = cells.map(cells.value_counts()).to_numpy(dtype=float)
    return np.maximum(1, np.rint((counts.max() / counts) ** balance)).astype(np.int64)


def joint_model(family: str, store: StoredDataset, overrides: dict[str, Any]) -> GenerativeModel:
    """A conditional two-channel model sized for the data (diffusion: noise scales measured)."""
    if family not in FAMILIES:
        raise InputError("family", f"joint (image, mask) generators are {' or '.join(FAMILIES)}")
    names = joint_conditions(store)
    vocab = condition_vocab(store.split("train"), names)
    settings: dict[str, Any] = {
        "image_size": store.size,
        "channels": JOINT_CHANNELS,
        "conditioning": {"names": list(names), "vocab": [list(v) for v in vocab]},
        **overrides,
    }
    if family == "diffusion":
        settings.setdefault("mask_weight", MASK_WEIGHT)
        dataset = joint_training_set(store)
        first = torch.stack([dataset[i]["image"] for i in range(min(len(dataset), SCALE_EXAMPLES))])
        scales = noise_scales(first * 2 - 1)
        settings.setdefault("sigma_data", round(scales.sigma_data, 4))
        settings.setdefault("sigma_max", round(max(scales.sigma_max, 2 * scales.sigma_data), 2))
    return build_model({"family": family, "config": settings}, "config [model]")


def train_joint_generator(
    family: str,
    data: str | Path,
    out: str | Path,
    config: RunConfig,
    *,
    balance: float = DEFAULT_BALANCE,
    progress: bool = True,
    cpu: bool = False,
    resume: bool = False,
    log_with: Sequence[str] = (),
) -> dict[str, Any]:
    """Train a conditional (image, mask) diffusion model or GAN on `data`'s train split, rare
    condition cells repeated by `condition_repeats(..., balance)`; `log_with` and `resume` (go
    on from the run's last checkpoint, ending as one uninterrupted run would) as in `train`."""
    store = open_dataset(data)
    if "tumour_mask" not in store.arrays:
        raise InputError(data, "has no tumour_mask array: a joint generator learns masks too")
    seed_globals(init_seed(config.train.seed))  # the same seed, the same initial weights
    model = joint_model(family, store, config.model)
    return train(
        model,
        joint_training_set(store, balance),
        out,
        config.train,
        data=data,
        resume=resume,
        progress=progress,
        cpu=cpu,
        log_with=log_with,
    )


def open_joint_run(run: str | Path) -> GenerativeModel:
    """A trained joint generator (InputError for a run of one-channel images)."""
    model = open_run(run).eval()
    channels = getattr(model.config, "channels", 1)
    if channels != JOINT_CHANNELS or conditioning_of(model) is None:
        raise InputError(
            run,
            "is not a joint (image, mask) generator: train one with "
            "medgen.tasks.augment.train_joint_generator",
        )
    return model


@torch.no_grad()
def generate_with_masks(
    run: str | Path,
    conditions: Sequence[dict[str, str]],
    *,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    batch_size: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """One (slice (H, W) float32 in [0, 1], mask (H, W) bool) per condition dict."""
    model = open_joint_run(run).to(default_device())
    labels = _encoded_conditions(model, run, conditions)
    options: dict[str, Any] = {}
    if isinstance(model, DiffusionModel):
        options = {"steps": steps, "guidance": guidance}
    generator = torch.Generator().manual_seed(seed)
    parts = [
        model.sample(len(chunk), generator=generator, cond=chunk, **options)
        for chunk in labels.split(batch_size)
    ]
    pairs = torch.cat(parts).cpu()
    return pairs[:, 0].float().numpy(), (pairs[:, 1] > 0.5).numpy()


def joint_condition_names(run: str | Path) -> tuple[str, ...]:
    """The attributes a trained joint generator is conditioned on."""
    conditioning = conditioning_of(open_joint_run(run))
    assert conditioning is not None  # open_joint_run checked it
    return tuple(conditioning.names)


def _encoded_conditions(
    model: GenerativeModel, run: str | Path, conditions: Sequence[dict[str, str]]
) -> torch.Tensor:
    """(N, A) long labels of the condition dicts (InputError naming the run for unknown ones)."""
    conditioning = conditioning_of(model)
    assert conditioning is not None  # open_joint_run checked it
    try:
        return torch.tensor([conditioning.encode(c) for c in conditions], dtype=torch.long)
    except ValueError as err:
        raise InputError(run, str(err)) from None


def _keep_known(kept: torch.Tensor, data: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """The projection of inpainting: the known values where kept, the estimate elsewhere."""
    return torch.where(kept, data, x0)


@torch.no_grad()
def inpaint_with_masks(
    run: str | Path,
    bases: np.ndarray,
    masks: np.ndarray,
    conditions: Sequence[dict[str, str]],
    *,
    seed: int = 0,
    steps: int | None = None,
    guidance: float | None = None,
    margin: int = INPAINT_MARGIN,
    base_grain: bool = True,
    batch_size: int = 100,
) -> np.ndarray:
    """Draw a tumour under each mask into its base slice; (N, H, W) float32 slices in [0, 1].

    bases (N, H, W) in [0, 1] (healthy slices), masks (N, H, W) bool, one condition dict each.
    The pixels within `margin` of the mask are sampled; every other pixel, and the whole mask
    channel, are projected back to the known values at every step (`sample_projected`), so they
    are returned unchanged. With `base_grain` the redrawn pixels keep the base's fine detail
    and take only the drawing's smooth part (`with_base_grain`).
    """
    model = open_joint_run(run)
    if not isinstance(model, DiffusionModel):
        raise InputError(run, "is a GAN run: drawing into a given slice needs a diffusion run")
    size = model.data_shape()[-1]
    if (
        bases.shape != masks.shape
        or bases.ndim != 3
        or bases.shape[-1] != size
        or len(conditions) != len(bases)
    ):
        raise InputError(
            run,
            f"draws into {size}x{size} slices with a mask and a condition "
            f"each, not bases {bases.shape}, masks {masks.shape} and "
            f"{len(conditions)} conditions",
        )
    model = model.to(default_device())
    labels = _encoded_conditions(model, run, conditions)
    c = model.config
    device = next(model.denoiser.parameters()).device
    sigmas = karras_sigmas(steps or c.steps, c.sigma_min, c.sigma_max, c.rho).to(device)
    generator = torch.Generator().manual_seed(seed)
    mask_t = torch.from_numpy(np.ascontiguousarray(masks)).float()[:, None]
    redrawn = torch.nn.functional.max_pool2d(mask_t, 2 * margin + 1, 1, margin) > 0  # dilation
    known = torch.cat(
        [torch.from_numpy(np.ascontiguousarray(bases, np.float32))[:, None], mask_t], 1
    )
    keep = torch.cat([~redrawn, torch.ones_like(redrawn)], 1)
    out = []
    for rows in torch.arange(len(bases)).split(batch_size):
        data = (known[rows] * 2 - 1).to(device)  # the model's [-1, 1]
        kept = keep[rows].to(device)
        x = prior_std(c.sigma_max, c.sigma_data) * randn(data.shape, generator, device=device)
        denoiser = model.guided_denoiser(
            len(rows), labels[rows], c.guidance if guidance is None else guidance
        )
        x = sample_projected(
            denoiser, x, sigmas, partial(_keep_known, kept, data), generator=generator
        )
        out.append(model.decode(x)[:, 0].cpu())
    drawn = torch.cat(out).numpy()
    if base_grain:
        drawn = with_base_grain(drawn, bases)
    return np.where(redrawn[:, 0].numpy(), drawn, bases).astype(np.float32)


def with_base_grain(
    drawn: np.ndarray, bases: np.ndarray, scale: float = GRAIN_SCALE_PX
) -> np.ndarray:
    """(N, H, W) slices whose smooth part (Gaussian blur of `scale` px) is the drawing's and
    whose fine detail (the rest) is the base's, clipped to [0, 1]; a drawing equal to its base
    gives the base back."""

    def smooth(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, (0, scale, scale))

    return np.clip(smooth(drawn) + bases - smooth(bases), 0.0, 1.0).astype(np.float32)


class Augmented(NamedTuple):
    """Classic augmentations and the originals they were made from."""

    images: np.ndarray  # (n, H, W) float32
    masks: np.ndarray  # (n, H, W) bool
    picks: np.ndarray  # (n,) index of each one's original in the given examples


def classic_augment(images: np.ndarray, masks: np.ndarray, n: int, seed: int = 0) -> Augmented:
    """n new (slice, mask) pairs: random originals under MONAI's affine, flip and gamma."""
    if len(images) == 0:
        raise ValueError("classic augmentation needs at least one example of the slice")
    transform = Compose(
        [
            RandFlipd(keys=["image", "mask"], prob=0.5, spatial_axis=1),
            RandAffined(
                keys=["image", "mask"],
                prob=1.0,
                rotate_range=0.26,
                scale_range=0.1,
                translate_range=2.0,
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            ),
            RandAdjustContrastd(keys=["image"], prob=0.8, gamma=(0.8, 1.25)),
        ]
    )
    transform.set_random_state(seed=seed)
    pick = np.random.default_rng(seed).integers(0, len(images), n)
    out_images, out_masks = [], []
    for i in pick:
        item = transform(
            {"image": images[i][None].astype(np.float32), "mask": masks[i][None].astype(np.float32)}
        )
        out_images.append(np.clip(np.asarray(item["image"])[0], 0.0, 1.0))
        out_masks.append(np.asarray(item["mask"])[0] > 0.5)
    return Augmented(np.stack(out_images).astype(np.float32), np.stack(out_masks), pick)
