"""Feature spaces for FD/KID/PRDC: medgen's domain extractor, a TorchScript module, or Inception.

ImageNet Inception needs weights we cannot download and is a poor judge of MRI slices, so
medgen trains its own extractor on the real training split of a data set: a small CNN
(`medgen.nets.ConvEncoder`, global mean pool) whose 128-d embedding must predict, from the image
alone, the slice's tumour type and location (cross-entropy) and its slice level, noise level and
bias strength (standardised squared error); optional lesion heads add tumour presence and a
training-only tumour-mask head (`medgen.evaluate.feature_net`). Those targets make the embedding
see what a reader of the slice sees (anatomy, the lesion, its place) and what a generator gets
wrong at the pixel level (noise texture, intensity shading); each target is used only where the
data know it, so imported data with only labels still train. On the built-in 64-pixel data the
default recipe's dev scores at 2000 steps are tumour presence AUROC 0.97, tumour type accuracy
0.91 (3-way with none), location 0.89 and R^2 0.98 (slice level), 0.91 (noise), 0.58 (bias); at
800 steps the noise level is not yet learnt (R^2 0.01). The location accuracy hides a rare
location: the head places 0.14 of dev brainstem tumours right (40 of 8,000 training slices are
brainstem) and 0.86-0.94 of the others, so each location's recall is scored too
("location recall brainstem"). The lesion heads learn tumours sooner
from few slices but on the full data cost noise and bias R^2 (benchmarks/results/features.txt),
so they are off by default. `extractor.json` records the dev scores and `medgen compare` prints
them beside every distance. The result is saved as a folder
(`weights.safetensors` + `extractor.json`) whose id is the hash of its weights: distances are
comparable between runs exactly when they were measured with the same id.

`load_extractor(spec)` opens one of
- a folder written by `train_extractor`;
- `export:FILE`, a program saved with `torch.export.save` mapping images (N, 1, H, W) in [0, 1]
  to features (N, D), exported with a dynamic batch dimension (an exported program is a graph
  and its weights, loaded without unpickling arbitrary objects);
- `inception:FILE`, local weights of torchmetrics' FID Inception (`pt_inception-2015-12-05`),
  which needs the `torch-fidelity` package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medgen import __version__
from medgen.config import from_dict
from medgen.data.store import StoredDataset, open_dataset
from medgen.evaluate.extractor import Extractor, load_exported, load_inception, weights_id
from medgen.evaluate.feature_net import (
    CLASS_TARGETS,
    VALUE_TARGETS,
    DomainFeatureNet,
    Encoded,
    Targets,
    Weights,
    encode_targets,
    find_targets,
    pooled_mask,
    target_loss,
    tumour_score,
)
from medgen.exceptions import InputError, SettingError
from medgen.fileio import (
    atomic_directory,
    check_overwrite,
    read_json_object,
    write_json_atomic,
)
from medgen.nets.encoder import POOLS
from medgen.tensorio import load_tensors, save_tensors, state_shapes
from medgen.validate import at_least, one_of, positive, random_seed, whole, whole_numbers

FORMAT = "medgen-features"
FORMAT_VERSION = 2  # 2: presence and mask heads, pool; 1 (neither, mean pool) still loads
WEIGHTS, INFO = "weights.safetensors", "extractor.json"
# Class heads whose recall per class is scored beside their accuracy: the accuracy weighs each
# location by its share of the slices, so it hides a rare location the head misses (brainstem on
# the built-in data: 40 of 8,000 training slices), and the per-condition rows split by location.
RECALL_HEADS = ("location",)
RECALL_SLICES = 2000  # at most this many dev tumour slices when recalls are measured on loading


@dataclass
class FeatureConfig:
    """How the domain extractor is built and trained (recorded in extractor.json)."""

    widths: tuple[int, ...] = (16, 32, 64, 128)
    feature_dim: int = 128
    steps: int = 800
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    presence_weight: float = 0.0  # loss weight of a tumour-presence head (0: no such head)
    mask_weight: float = 0.0  # loss weight of a training-only tumour-mask head (0: none)
    mask_stage: int = 2  # encoder stages before the mask head (2: 16x16 cells at 64 px)
    pool: str = "mean"  # global pool of the last map: "mean", or "meanmax" (both, concatenated)

    def __post_init__(self) -> None:
        whole_numbers("widths", self.widths, 1)
        whole("feature_dim", self.feature_dim, 1)
        whole("steps", self.steps, 1)
        whole("batch_size", self.batch_size, 1)
        positive("lr", self.lr)
        random_seed("seed", self.seed)
        at_least("presence_weight", self.presence_weight)
        at_least("mask_weight", self.mask_weight)
        levels = len(self.widths)
        if whole("mask_stage", self.mask_stage, 1) > levels:
            raise SettingError(
                "mask_stage",
                f"must be at most the {levels} levels of widths, got {self.mask_stage}",
            )
        one_of("pool", self.pool, POOLS)


def domain_net(config: FeatureConfig, targets: Targets, channels: int) -> DomainFeatureNet:
    """The network that `config` describes, with heads for `targets`."""
    widths, dim = config.widths, config.feature_dim
    return DomainFeatureNet(targets, widths, dim, channels, config.mask_stage, config.pool)


def load_images(store: StoredDataset, ids: np.ndarray, array: str = "images") -> Tensor:
    """Slices `ids` of the dataset's `array` as (N, 1, H, W) float32 (images in [0, 1])."""
    images = store.array(array)
    return torch.from_numpy(np.asarray(images[np.sort(ids)], dtype=np.float32)).unsqueeze(1)


def fit(
    net: DomainFeatureNet,
    images: Tensor,
    targets: Encoded,
    masks: Tensor | None,
    config: FeatureConfig,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Adam with a cosine learning-rate decay over config.steps; returns the final loss.

    `masks` (N, 1, h, w) are the pooled tumour masks of `images`, None without a mask head.
    """
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps)
    net.train()
    loss = torch.zeros(())
    for step in range(config.steps):
        size = min(config.batch_size, images.shape[0])
        pick = torch.randint(images.shape[0], (size,), generator=generator)
        batch = Encoded(*(t[pick] for t in targets))
        weights = Weights(config.presence_weight, config.mask_weight)
        pooled = None if masks is None else masks[pick]
        loss = target_loss(net, net.embed(images[pick]), batch, pooled, weights)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, float(loss.detach()))
    net.eval()
    return float(loss.detach())


def recall_key(head: str, value: str) -> str:
    """The score name of a head's recall of one class, e.g. "location recall brainstem"."""
    return f"{head} recall {value}"


def class_recalls(
    predicted: Tensor, truth: Tensor, head: str, vocab: list[str]
) -> dict[str, float]:
    """Per tumour class of `head`, the share of its slices the head names right (recall).

    predicted and truth are (N,) class indices into `vocab`. The class "none" is left out: telling
    tumour from none is the presence score's job.
    """
    scores = {}
    for i, value in enumerate(vocab):
        of_class = truth == i
        if value != "none" and bool(of_class.any()):
            scores[recall_key(head, value)] = float((predicted[of_class] == i).float().mean())
    return scores


@torch.no_grad()
def head_scores(
    net: DomainFeatureNet, targets: Targets, images: Tensor, encoded: Encoded
) -> dict[str, float]:
    """Held-out AUROC of tumour presence, accuracy of each class head, R^2 of each value."""
    from sklearn.metrics import roc_auc_score

    classes, values, presence = encoded
    feats = torch.cat([net(part) for part in images.split(256)])
    scores: dict[str, float] = {}
    labelled = torch.isfinite(presence)
    score = tumour_score(net, targets, feats)
    if score is not None and presence[labelled].unique().numel() == 2:
        auroc = roc_auc_score(presence[labelled].numpy(), score[labelled].numpy())
        scores["tumour presence AUROC"] = float(auroc)
    for j, (name, head) in enumerate(net.class_heads.items()):
        known = classes[:, j] >= 0
        if known.any():
            predicted = head(feats[known]).argmax(dim=1)
            scores[f"{name} accuracy"] = float((predicted == classes[known, j]).float().mean())
            if name in RECALL_HEADS:
                scores |= class_recalls(predicted, classes[known, j], name, targets.classes[name])
    estimated = net.value_head(feats)
    for j, name in enumerate(targets.values):
        known = torch.isfinite(values[:, j])
        if known.sum() >= 2:
            truth = values[known, j]
            residual = ((estimated[known, j] - truth) ** 2).mean()
            scores[f"{name} R2"] = float(1 - residual / truth.var(unbiased=False).clamp_min(1e-12))
    return scores


def train_extractor(
    data: str | Path,
    out: str | Path,
    config: FeatureConfig | None = None,
    *,
    overwrite: bool = False,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the domain extractor on `data`'s train split, score it on dev, save it to `out`."""
    config = config or FeatureConfig()
    check_overwrite(Path(out), overwrite, INFO, FORMAT)
    store = open_dataset(data)
    train_meta = store.split("train").sort_index()
    if len(train_meta) < 2:
        raise InputError(data, f"has {len(train_meta)} training slices; the extractor needs 2")
    with_masks = config.mask_weight > 0 and "tumour_mask" in store.arrays
    targets = find_targets(train_meta, config.presence_weight > 0, with_masks)
    if not targets.classes and not targets.values and not targets.presence:
        raise InputError(
            data,
            "has no known tumour type, location or slice metadata to train features on; "
            "pass an export: or inception: feature space instead",
        )
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = domain_net(config, targets, 1)
    ids = train_meta.index.to_numpy()
    images = load_images(store, ids)
    masks = None
    if targets.mask:
        masks = pooled_mask(load_images(store, ids, "tumour_mask"), config.mask_stage)
    final = fit(net, images, encode_targets(train_meta, targets), masks, config, progress)
    held = store.split("dev").sort_index()
    scores: dict[str, float] = {}
    if len(held):
        held_images = load_images(store, held.index.to_numpy())
        scores = head_scores(net, targets, held_images, encode_targets(held, targets))
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "medgen_version": __version__,
        "config": asdict(config),
        "targets": {
            "classes": targets.classes,
            "values": targets.values,
            "presence": targets.presence,
            "mask": targets.mask,
        },
        "image_size": store.size,
        "channels": 1,
        "feature_dim": config.feature_dim,
        "data": {
            "root": str(Path(data)),
            "content_hash": store.manifest.get("content_hash"),
            "n_train": len(train_meta),
        },
        "final_loss": final,
        "dev_scores": scores,
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            save_tensors(tmp / WEIGHTS, net.state_dict())
            info["id"] = weights_id(tmp / WEIGHTS)
            write_json_atomic(tmp / INFO, info)
    except FileExistsError:
        raise InputError(out, "already exists (pass --overwrite to replace it)") from None
    return info


def record_targets(info: dict[str, Any]) -> Targets:
    """The targets recorded in an extractor.json (format 1 has no presence or mask head).

    The JSON keys may come back sorted: the value head's columns follow VALUE_TARGETS' order.
    """
    recorded = info["targets"]
    classes, values = recorded["classes"], recorded["values"]
    return Targets(
        {k: list(classes[k]) for k in CLASS_TARGETS if k in classes},
        {k: (float(values[k][0]), float(values[k][1])) for k in VALUE_TARGETS if k in values},
        bool(recorded.get("presence", False)),
        bool(recorded.get("mask", False)),
    )


def split_scores(folder: str | Path, data: str | Path, split: str) -> dict[str, float]:
    """The scores of a saved medgen extractor's heads on `split` of `data` (as dev_scores)."""
    extractor = load_extractor(folder)
    if not isinstance(extractor.module, DomainFeatureNet):
        raise InputError(folder, "is not a medgen extractor folder")
    store = open_dataset(data)
    meta = store.split(split).sort_index()
    targets = record_targets(extractor.record)
    images = load_images(store, meta.index.to_numpy())
    return head_scores(extractor.module, targets, images, encode_targets(meta, targets))


def tumour_rows(
    store: StoredDataset, targets: Targets, heads: list[str], cap: int, seed: int
) -> np.ndarray:
    """Up to `cap` random dev row ids, sorted, whose class under one of `heads` is a known
    tumour class (neither "none" nor outside the head's vocabulary)."""
    meta = store.split("dev")
    tumour = np.zeros(len(meta), dtype=bool)
    for head in heads:
        classes = set(targets.classes[head]) - {"none"}
        tumour |= meta[head].astype(str).isin(classes).to_numpy()
    ids = meta.index.to_numpy()[tumour]
    return np.sort(np.random.default_rng(seed).choice(ids, size=min(cap, ids.size), replace=False))


@torch.no_grad()
def scores_with_recalls(
    extractor: Extractor, store: StoredDataset, cap: int = RECALL_SLICES, seed: int = 0
) -> dict[str, float]:
    """The extractor's recorded dev scores, plus the per-class recalls of RECALL_HEADS measured
    now on up to `cap` random tumour slices of `store`'s dev split where the record lacks them
    (it was written before they were scored). Other feature spaces have no heads: their record's
    scores, if any, come back as they are."""
    scores = {k: float(v) for k, v in extractor.record.get("dev_scores", {}).items()}
    net = extractor.module
    if not isinstance(net, DomainFeatureNet):
        return scores
    targets = record_targets(extractor.record)
    missing = [
        h
        for h in RECALL_HEADS
        if h in targets.classes and not any(k.startswith(recall_key(h, "")) for k in scores)
    ]
    ids = tumour_rows(store, targets, missing, cap, seed)
    if ids.size == 0:
        return scores
    classes = encode_targets(store.meta.loc[ids], targets).classes  # (N, A)
    feats = extractor(load_images(store, ids)).float()  # (N, D)
    columns = list(targets.classes)
    for head in missing:
        j = columns.index(head)
        known = classes[:, j] >= 0
        predicted = net.class_heads[head](feats[known]).argmax(dim=1)
        scores |= class_recalls(predicted, classes[known, j], head, targets.classes[head])
    return scores


def load_medgen_extractor(folder: Path) -> Extractor:
    """A folder written by `train_extractor`, checked against its own record."""
    info = read_json_object(folder / INFO)
    if info.get("format") != FORMAT:
        raise InputError(folder / INFO, f"is not a {FORMAT} record")
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(folder / INFO, "was written by a newer medgen; upgrade to read it")
    recorded = {"pool": "mean", **info["config"]}  # format 1 has no pool: it is the mean
    config = from_dict(FeatureConfig, recorded, f"{folder / INFO} config")
    targets = record_targets(info)
    channels = int(info.get("channels", 1))
    net = domain_net(config, targets, channels)
    state = load_tensors(folder / WEIGHTS, state_shapes(net.state_dict()))
    if weights_id(folder / WEIGHTS) != info.get("id"):
        raise InputError(folder / WEIGHTS, "does not match the id in extractor.json (altered?)")
    net.load_state_dict(state)
    return Extractor(net.eval(), f"medgen:{info['id']}", int(info["image_size"]), info)


def load_extractor(spec: str | Path) -> Extractor:
    """The feature space named by `spec` (see the module docstring); InputError if unusable."""
    text = str(spec)
    if text.startswith("export:"):
        return load_exported(Path(text.removeprefix("export:")))
    if text.startswith("inception:"):
        return load_inception(Path(text.removeprefix("inception:")))
    folder = Path(text)
    if not (folder / INFO).is_file():
        raise InputError(
            folder,
            "is not a feature extractor (no extractor.json; use a folder from "
            "`medgen features`, export:FILE or inception:FILE)",
        )
    return load_medgen_extractor(folder)


def extractor_record(folder: str | Path) -> dict[str, Any]:
    """The extractor.json of a medgen extractor folder."""
    return read_json_object(Path(folder) / INFO)
