"""The tumour detector as a pipeline of named parts: preprocess -> extract -> classify.

Each part is trained and saved on its own, and `run` keeps every intermediate output per
example, so error analysis by parts (`medgen.errors.parts`) can swap in a perfect output for
any part (the clean slice for preprocess, the true mask for extract) and re-run the rest.

Training (`train_detector`): the segmentation network learns on 80% of the train split; the
classifier learns on the features the trained network extracts from the other 20%, so that it
sees region features as imperfect as those of unseen slices, not the over-clean ones of the
network's own training images.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medgen import __version__
from medgen.config import from_dict
from medgen.data.store import StoredDataset, open_dataset
from medgen.detect.classify import (
    CLASSES,
    ClassifyConfig,
    RegionClassifier,
    class_indices,
    class_probabilities,
    region_windows,
    train_classifier,
)
from medgen.detect.extract import (
    FEATURES,
    ExtractConfig,
    extract,
    perfect_extract,
    probabilities,
    segmentation_net,
    train_segmentation,
)
from medgen.detect.preprocess import PreprocessConfig, perfect_preprocess, preprocess
from medgen.devices import default_device
from medgen.exceptions import InputError
from medgen.fileio import (
    atomic_directory,
    check_overwrite,
    check_sha256,
    read_json_object,
    sha256_of,
    write_json_atomic,
)
from medgen.tensorio import load_tensors, save_tensors, state_shapes
from medgen.validate import random_seed

PARTS = ("preprocess", "extract", "classify")
# 2: the classifier also reads a window around the region; 1 (features only) still loads
FORMAT, FORMAT_VERSION = "medgen-detector", 2
INFO, SEGMENTATION, CLASSIFIER = (
    "detector.json",
    "segmentation.safetensors",
    "classifier.safetensors",
)
HASHES = "sha256"  # detector.json: weight file name -> its SHA-256
CLASSIFIER_SHARE = 0.2  # of the train split, held out from the segmentation net for the classifier
NEEDED = ("images", "clean", "brain_mask", "tumour_mask")  # arrays a training set must have


@dataclass
class DetectorConfig:
    """The three parts' settings (saved in detector.json)."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        random_seed("seed", self.seed)


@dataclass
class Outputs:
    """Every part's output for the examples `ids` (arrays indexed like ids)."""

    ids: np.ndarray  # (N,) dataset row ids
    preprocessed: np.ndarray  # (N, H, W) float32
    brain_mask: np.ndarray  # (N, H, W) bool
    probability: np.ndarray  # (N, H, W) float32 tumour probability
    region: np.ndarray  # (N, H, W) bool
    features: np.ndarray  # (N, len(FEATURES)) float32
    class_probabilities: np.ndarray  # (N, 3)
    perfect: tuple[str, ...] = ()  # parts replaced by perfect outputs

    @property
    def prediction(self) -> np.ndarray:
        """Predicted class names (N,)."""
        return np.asarray(CLASSES, dtype=object)[self.class_probabilities.argmax(axis=1)]


def check_training_data(store: StoredDataset) -> None:
    """The detector learns from masks and truth classes: refuse data without them."""
    missing = [name for name in NEEDED if name not in store.arrays]
    if missing:
        raise InputError(
            store.root,
            f"has no {', '.join(missing)} array(s): the detector trains on the built-in "
            "data's masks and clean slices",
        )
    types = set(store.split("train")["tumour_type"].astype(str))
    if not types <= set(CLASSES) or len(types) < 2:
        raise InputError(
            store.root,
            f"train split tumour types {sorted(types)}: the detector needs {', '.join(CLASSES)}",
        )


def rows(store: StoredDataset, name: str, ids: np.ndarray) -> np.ndarray:
    """Rows `ids` (sorted) of array `name` as a numpy array."""
    return np.asarray(store.array(name)[ids])


PREPROCESSED_KEPT = 8  # results `preprocessed_rows` keeps, the least recently used dropped first
_preprocessed: OrderedDict[tuple[str, str, PreprocessConfig], tuple[np.ndarray, np.ndarray]] = (
    OrderedDict()
)


def preprocessed_rows(
    store: StoredDataset, ids: np.ndarray, config: PreprocessConfig
) -> tuple[np.ndarray, np.ndarray]:
    """`preprocess` of the images in rows `ids` (sorted) of `store`: (N, H, W) float32 slices and
    bool brain masks, fresh copies the caller may change.

    The last PREPROCESSED_KEPT results are kept, keyed by the store's content hash, the rows and
    the settings (rows without a content hash, a scan's slices held in memory among them, are
    preprocessed every time). Why: the remedy trains and measures one detector per arm on the
    same train, dev and test rows, and preprocessing them again for each arm was about a tenth
    of the errors chapter; the output depends on nothing else."""
    manifest = getattr(store, "manifest", None)  # slices held in memory have none
    digest = manifest.get("content_hash") if isinstance(manifest, dict) else None
    if not isinstance(digest, str) or not digest:
        return preprocess(rows(store, "images", ids).astype(np.float32), config)
    key = (digest, hashlib.sha256(np.asarray(ids, np.int64).tobytes()).hexdigest(), config)
    kept = _preprocessed.get(key)
    if kept is None:
        kept = preprocess(rows(store, "images", ids).astype(np.float32), config)
        _preprocessed[key] = kept
        while len(_preprocessed) > PREPROCESSED_KEPT:
            _preprocessed.popitem(last=False)
    else:
        _preprocessed.move_to_end(key)
    return kept[0].copy(), kept[1].copy()


class Detector:
    """The trained pipeline: preprocessing settings, segmentation net and classifier."""

    parts = PARTS

    def __init__(self, config: DetectorConfig, net: nn.Module, classifier: RegionClassifier):
        self.config = config
        self.net = net.eval()
        self.classifier = classifier.eval()

    def run(self, store: StoredDataset, ids: np.ndarray, perfect: Collection[str] = ()) -> Outputs:
        """All parts on rows `ids` of `store`; parts named in `perfect` give perfect outputs."""
        unknown = sorted(set(perfect) - set(PARTS[:-1]))
        if unknown:
            raise ValueError(
                f"no perfect output for part {unknown[0]!r} (only preprocess, extract)"
            )
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        if "preprocess" in perfect:
            clean, masks = rows(store, "clean", sorted_ids), rows(store, "brain_mask", sorted_ids)
            pre, brain = perfect_preprocess(clean, masks, self.config.preprocess)
        else:
            pre, brain = preprocessed_rows(store, sorted_ids, self.config.preprocess)
        if "extract" in perfect:
            prob, region, feats = perfect_extract(pre, rows(store, "tumour_mask", sorted_ids))
        else:
            prob, region, feats = self.run_extract(pre)
        probs = class_probabilities(self.classifier, feats, self.windows(pre, prob, region))
        undo = np.argsort(order, kind="stable")  # back to the caller's order
        return Outputs(
            ids,
            pre[undo],
            brain[undo],
            prob[undo],
            region[undo],
            feats[undo],
            probs[undo],
            tuple(sorted(perfect)),
        )

    def run_extract(self, preprocessed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The extract part on preprocessed slices: tumour probability, region, features."""
        prob = probabilities(self.net, preprocessed)
        return (prob, *extract(preprocessed, prob))

    def windows(
        self, preprocessed: np.ndarray, probability: np.ndarray, region: np.ndarray
    ) -> np.ndarray | None:
        """The windows around the regions that the classifier reads (None if it reads none)."""
        size = self.config.classify.window
        return region_windows(preprocessed, probability, region, size) if size else None

    def regions(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W) bool: the tumour region the detector extracts from each raw slice."""
        preprocessed, _ = preprocess(np.asarray(images, np.float32), self.config.preprocess)
        return self.run_extract(preprocessed)[1]

    def save(self, out: Path, summary: dict[str, Any]) -> None:
        """Write detector.json and the two parts' weights into the folder `out`."""
        save_tensors(out / SEGMENTATION, self.net.state_dict())
        save_tensors(out / CLASSIFIER, self.classifier.state_dict())
        write_json_atomic(
            out / INFO,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "medgen_version": __version__,
                "parts": list(PARTS),
                "classes": list(CLASSES),
                "features": list(FEATURES),
                "config": asdict(self.config),
                HASHES: {name: sha256_of(out / name) for name in (SEGMENTATION, CLASSIFIER)},
                **summary,
            },
        )


def load_detector_config(run: str | Path) -> DetectorConfig:
    """The config a detector run folder was trained with (InputError if it is not one)."""
    run = Path(run)
    if not (run / INFO).is_file():
        raise InputError(run, "is not a detector run (no detector.json)")
    info = read_json_object(run / INFO)
    if info.get("format") != FORMAT or int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(run / INFO, f"is not a {FORMAT} (version <= {FORMAT_VERSION}) record")
    config = dict(info["config"])
    if int(info.get("format_version", 0)) < 2:  # trained before the classifier read windows
        config["classify"] = {**config.get("classify", {}), "window": 0}
    return from_dict(DetectorConfig, config, f"{run / INFO} config")


def load_detector(run: str | Path) -> Detector:
    """A detector run folder written by `train_detector`, its net on the default device."""
    run = Path(run)
    config = load_detector_config(run)
    recorded = read_json_object(run / INFO).get(HASHES, {})  # none before they were recorded
    for name, digest in recorded.items() if isinstance(recorded, dict) else ():
        if name in (SEGMENTATION, CLASSIFIER):
            check_sha256(run / name, str(digest), INFO)
    net = segmentation_net(config.extract)
    net.load_state_dict(load_tensors(run / SEGMENTATION, state_shapes(net.state_dict())))
    net.to(default_device())
    classifier = RegionClassifier(len(FEATURES), config.classify.hidden, config.classify.window)
    classifier.load_state_dict(
        load_tensors(run / CLASSIFIER, state_shapes(classifier.state_dict()))
    )
    return Detector(config, net, classifier)


def split_for_parts(ids: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`ids` for the segmentation net and, CLASSIFIER_SHARE of them, for the classifier (sorted)."""
    shuffled = np.random.default_rng(seed).permutation(ids)
    cut = round(len(ids) * CLASSIFIER_SHARE)
    return np.sort(shuffled[cut:]), np.sort(shuffled[:cut])


def split_train(store: StoredDataset, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train-split ids for the segmentation net and for the classifier (sorted)."""
    return split_for_parts(store.split("train").index.to_numpy(), seed)


def train_detector(
    data: str | Path,
    out: str | Path,
    config: DetectorConfig | None = None,
    *,
    extra: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the three parts on `data`'s train split and save the detector to `out`;
    `progress(step, loss)` follows the segmentation net's steps.

    `extra` returns more training examples (images, tumour masks, class names), the remedy
    loop's added data, split between the parts as the train split is: most join the
    segmentation net's examples, CLASSIFIER_SHARE of them the classifier's held-out ones. (Given
    to the segmentation net alone, they taught it to find the slice's tumours, and the
    classifier, which had seen few of them, went on calling what it found "none".)
    """
    config = config or DetectorConfig()
    check_overwrite(Path(out), overwrite, INFO, FORMAT)
    store = open_dataset(data)
    check_training_data(store)
    seg_ids, cls_ids = split_train(store, config.seed)
    start = time.perf_counter()
    log(f"preprocessing {len(seg_ids) + len(cls_ids)} training slices")
    pre, _ = preprocessed_rows(store, seg_ids, config.preprocess)
    masks = rows(store, "tumour_mask", seg_ids).astype(bool)
    added, extra_held = 0, None
    if extra is not None:
        images, extra_masks, kinds = extra()
        extra_pre, _ = preprocess(images.astype(np.float32), config.preprocess)
        to_net, to_classifier = split_for_parts(np.arange(len(images)), config.seed)
        pre = np.concatenate([pre, extra_pre[to_net]])
        masks = np.concatenate([masks, extra_masks[to_net]])
        extra_held = extra_pre[to_classifier], class_indices(np.asarray(kinds)[to_classifier])
        added = len(images)
    device = default_device()
    log(f"training the segmentation net ({config.extract.steps} steps, {device.type})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.extract.seed)
        net = segmentation_net(config.extract)  # initialised on the CPU: the same on any device
    seg = train_segmentation(net.to(device), pre, masks, config.extract, progress)
    log("training the classifier on held-out region features")
    c = config.classify
    detector = Detector(config, net, RegionClassifier(len(FEATURES), c.hidden, c.window))
    held = detector.run(store, cls_ids)
    features, windows = (
        held.features,
        detector.windows(held.preprocessed, held.probability, held.region),
    )
    truth = class_indices(store.meta.loc[cls_ids, "tumour_type"].astype(str).to_numpy())
    if extra_held is not None:
        prob, region, extra_features = detector.run_extract(extra_held[0])
        features = np.concatenate([features, extra_features])
        extra_windows = detector.windows(extra_held[0], prob, region)
        if windows is not None and extra_windows is not None:
            windows = np.concatenate([windows, extra_windows])
        truth = np.concatenate([truth, extra_held[1]])
    detector.classifier = train_classifier(features, truth, c, windows)
    summary = {
        "data": str(Path(data)),
        "content_hash": store.manifest.get("content_hash"),
        "image_size": store.size,
        "segmentation_examples": len(masks),
        "added_examples": added,
        "classifier_examples": len(truth),
        "segmentation": seg,
        "seconds": round(time.perf_counter() - start, 1),
    }
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            detector.save(tmp, summary)
    except FileExistsError:
        raise InputError(out, "already exists (pass --overwrite to replace it)") from None
    return summary


def model_version(run: str | Path) -> str:
    """ "detector:<12 hex digits>": the hash of the run's two weight files, its version."""
    digest = hashlib.sha256()
    for name in (SEGMENTATION, CLASSIFIER):
        digest.update((Path(run) / name).read_bytes())
    return f"detector:{digest.hexdigest()[:12]}"


class BoundDetector:
    """A detector with its dataset: the `AnalysablePipeline` that error analysis by parts runs."""

    parts = PARTS

    def __init__(self, detector: Detector, store: StoredDataset) -> None:
        self.detector, self.store = detector, store

    def predict(self, ids: np.ndarray, perfect: Collection[str] = ()) -> np.ndarray:
        """Predicted class names of rows `ids`, with the `perfect` parts substituted."""
        return self.detector.run(self.store, ids, perfect).prediction


def detector_config(steps: int, seed: int = 0, classify_steps: int | None = None) -> DetectorConfig:
    """The default detector with `steps` segmentation steps (and `classify_steps` classifier
    steps, None: the default), every part seeded with `seed`."""
    config = DetectorConfig(seed=seed)
    config.extract = replace(config.extract, steps=steps, seed=seed)
    if classify_steps is not None:
        config.classify = replace(config.classify, steps=classify_steps)
    return config
