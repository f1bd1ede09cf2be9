"""Feature spaces for FD/KID/PRDC: medgen's domain extractor, a TorchScript module, or Inception.

ImageNet Inception needs weights we cannot download and is a poor judge of MRI slices, so
medgen trains its own extractor on the real training split of a data set: a small CNN
(`medgen.nets.ConvEncoder`) whose 128-d embedding must predict, from the image alone, the
slice's tumour type and location (cross-entropy) and its slice level, noise level and bias
strength (standardised squared error). Those targets make the embedding see what a reader of
the slice sees (anatomy, the lesion, its place) and what a generator gets wrong at the pixel
level (noise texture, intensity shading); each target is used only where the metadata knows it,
so imported data with only labels still train. On the built-in 64-pixel data at the default
budget (800 steps) the embedding learns slice level and noise level well (dev R^2 0.97 each)
while tumours (median 15 pixels, low contrast) stay at chance: distances in this space judge
anatomy, intensity and noise texture far more than lesions, which is why `extractor.json`
records the dev scores and `medgen compare` prints them. The result is saved as a folder
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

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgen import __version__
from medgen.config import from_dict
from medgen.data.store import StoredDataset, open_dataset
from medgen.exceptions import InputError
from medgen.fileio import atomic_directory, read_json_object, write_json_atomic
from medgen.nets.encoder import ConvEncoder
from medgen.tensorio import load_tensors, save_tensors, state_shapes

FORMAT = "medgen-features"
FORMAT_VERSION = 1
WEIGHTS, INFO = "weights.safetensors", "extractor.json"
CLASS_TARGETS = ("tumour_type", "location")  # categorical metadata the embedding must predict
VALUE_TARGETS = ("source_z", "noise_sigma", "bias_strength")  # numeric metadata, standardised
UNKNOWN = {"unknown", "", "nan"}


@dataclass
class FeatureConfig:
    """How the domain extractor is built and trained (recorded in extractor.json)."""

    widths: tuple[int, ...] = (16, 32, 64, 128)
    feature_dim: int = 128
    steps: int = 800
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0


@dataclass
class Targets:
    """What the heads predict: class vocabularies and the mean/std of each numeric target."""

    classes: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, tuple[float, float]] = field(default_factory=dict)


def find_targets(meta: Any) -> Targets:
    """The targets the training table can teach: >= 2 known classes, or a spread of values."""
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
    return targets


class DomainFeatureNet(nn.Module):
    """ConvEncoder embedding with one linear head per target; forward() returns the embedding."""

    def __init__(self, config: FeatureConfig, targets: Targets, channels: int = 1) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, tuple(config.widths), config.feature_dim)
        self.class_heads = nn.ModuleDict(
            {name: nn.Linear(config.feature_dim, len(v)) for name, v in targets.classes.items()}
        )
        self.value_head = nn.Linear(config.feature_dim, max(len(targets.values), 1))

    def forward(self, images: Tensor) -> Tensor:
        """Embedding (B, D) of images (B, C, H, W) in [0, 1]."""
        return self.encoder(images * 2.0 - 1.0)


def encode_targets(meta: Any, targets: Targets) -> tuple[Tensor, Tensor]:
    """Class indices (N, A) (-1 unknown) and standardised values (N, V) (NaN unknown)."""
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
    return classes, values


def target_loss(net: DomainFeatureNet, feats: Tensor, classes: Tensor, values: Tensor) -> Tensor:
    """Sum of the heads' losses, each over the examples whose target is known."""
    loss = feats.new_zeros(())
    for j, head in enumerate(net.class_heads.values()):
        known = classes[:, j] >= 0
        if known.any():
            loss = loss + F.cross_entropy(head(feats[known]), classes[known, j])
    known = torch.isfinite(values)
    if known.any():
        predicted = net.value_head(feats)
        loss = loss + F.mse_loss(predicted[known], values[known])
    return loss


def load_images(store: StoredDataset, ids: np.ndarray) -> Tensor:
    """Slices `ids` of the dataset as (N, 1, H, W) float32 in [0, 1]."""
    images = store.array("images")
    return torch.from_numpy(np.asarray(images[np.sort(ids)], dtype=np.float32)).unsqueeze(1)


def fit(
    net: DomainFeatureNet,
    images: Tensor,
    classes: Tensor,
    values: Tensor,
    config: FeatureConfig,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Adam with a cosine learning-rate decay over config.steps; returns the final loss."""
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps)
    net.train()
    loss = torch.zeros(())
    for step in range(config.steps):
        size = min(config.batch_size, images.shape[0])
        pick = torch.randint(images.shape[0], (size,), generator=generator)
        loss = target_loss(net, net(images[pick]), classes[pick], values[pick])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, float(loss.detach()))
    net.eval()
    return float(loss.detach())


@torch.no_grad()
def head_scores(
    net: DomainFeatureNet, targets: Targets, images: Tensor, classes: Tensor, values: Tensor
) -> dict[str, float]:
    """Held-out accuracy of each class head and R^2 of each value target."""
    feats = torch.cat([net(part) for part in images.split(256)])
    scores: dict[str, float] = {}
    for j, (name, head) in enumerate(net.class_heads.items()):
        known = classes[:, j] >= 0
        if known.any():
            hits = head(feats[known]).argmax(dim=1) == classes[known, j]
            scores[f"{name} accuracy"] = float(hits.float().mean())
    predicted = net.value_head(feats)
    for j, name in enumerate(targets.values):
        known = torch.isfinite(values[:, j])
        if known.sum() >= 2:
            truth = values[known, j]
            residual = ((predicted[known, j] - truth) ** 2).mean()
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
    store = open_dataset(data)
    train_meta = store.split("train").sort_index()
    if len(train_meta) < 2:
        raise InputError(data, f"has {len(train_meta)} training slices; the extractor needs 2")
    targets = find_targets(train_meta)
    if not targets.classes and not targets.values:
        raise InputError(
            data,
            "has no known tumour type, location or slice metadata to train features on; "
            "pass an export: or inception: feature space instead",
        )
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = DomainFeatureNet(config, targets)
    images = load_images(store, train_meta.index.to_numpy())
    final = fit(net, images, *encode_targets(train_meta, targets), config, progress)
    held = store.split("dev").sort_index()
    scores: dict[str, float] = {}
    if len(held):
        held_images = load_images(store, held.index.to_numpy())
        scores = head_scores(net, targets, held_images, *encode_targets(held, targets))
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "medgen_version": __version__,
        "config": asdict(config),
        "targets": {"classes": targets.classes, "values": targets.values},
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


def load_medgen_extractor(folder: Path) -> Extractor:
    """A folder written by `train_extractor`, checked against its own record."""
    info = read_json_object(folder / INFO)
    if info.get("format") != FORMAT:
        raise InputError(folder / INFO, f"is not a {FORMAT} record")
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(folder / INFO, "was written by a newer medgen; upgrade to read it")
    config = from_dict(FeatureConfig, info["config"], f"{folder / INFO} config")
    targets = Targets(
        {k: list(v) for k, v in info["targets"]["classes"].items()},
        {k: (float(v[0]), float(v[1])) for k, v in info["targets"]["values"].items()},
    )
    net = DomainFeatureNet(config, targets, int(info.get("channels", 1)))
    state = load_tensors(folder / WEIGHTS, state_shapes(net.state_dict()))
    if weights_id(folder / WEIGHTS) != info.get("id"):
        raise InputError(folder / WEIGHTS, "does not match the id in extractor.json (altered?)")
    net.load_state_dict(state)
    return Extractor(net.eval(), f"medgen:{info['id']}", int(info["image_size"]), info)


def load_exported(path: Path) -> Extractor:
    """A `torch.export` program file mapping images in [0, 1] to (N, D) features."""
    if not path.is_file():
        raise InputError(path, "no such exported-program file")
    try:
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
