"""Dice per class of the diffusion-feature segmenter and its peers at each number N of labelled
slices, over several draws of the N slices, with the targets as claims.

Every method is trained on the same draws and scored on the same test slices. A method's Dice
for a class pools the test slices' pixels (a slice without the class still counts its false
positives). The table's ranges are percentile ranges of the draws (`draw_interval`): they say
how much the choice of the N labelled slices moves the score. A claim's gain is paired by draw,
and its interval is Student's t over the draws (`repeats_interval`), an interval for the mean
gain over choices of the N slices: with the few draws a profile affords, the draws' own range
would hold that mean far less often than 95%.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from medgen.data.store import StoredDataset
from medgen.models import DiffusionModel
from medgen.tasks.claims import Claim
from medgen.tasks.fewlabels.labels import LabelMaps, draw_labelled, label_maps
from medgen.tasks.fewlabels.peers import PEERS, PeerSettings, predict_peer
from medgen.tasks.fewlabels.segmenter import SegmenterSettings, fit_segmenter, segment
from medgen.tasks.intervals import LEVEL, Interval, repeats_interval
from medgen.tasks.tables import Table

OURS = "diffusion features"
GAIN = 0.10  # target at N = 10 and 30: ours >= best peer + 0.10 Dice
PARITY = -0.02  # target at N = all: ours within 0.02 of the best peer
TARGETS = {10: GAIN, 30: GAIN, None: PARITY}  # N (None: all) -> the margin of the gain
TARGET_CLASSES = ("tumour", "white matter")


@dataclass(frozen=True)
class SegmentSettings:
    """What `segment_table` measures, and the caps that keep it affordable."""

    counts: tuple[int | None, ...] = (10, 30, 100, None)  # N labelled slices (None: all)
    draws: int = 3  # draws of the N slices per N
    test: int = 200  # test slices, a fixed random sample of the split
    max_slices: int = 500  # the segmenter's features come from at most this many of the N
    segmenter: SegmenterSettings = field(default_factory=SegmenterSettings)
    peers: PeerSettings = field(default_factory=PeerSettings)
    split: str = "test"
    seed: int = 0


def class_dice(
    pred: NDArray[np.uint8], truth: NDArray[np.uint8], classes: int
) -> NDArray[np.float64]:
    """Dice of each class over all pixels of the slices (C,); NaN where neither has the class."""
    out = np.full(classes, np.nan)
    for c in range(classes):
        p, t = pred == c, truth == c
        total = int(p.sum() + t.sum())
        if total:
            out[c] = 2.0 * float((p & t).sum()) / total
    return out


def draw_interval(values: NDArray[np.float64], level: float = LEVEL) -> Interval:
    """Mean over draws and the central `level` percentile range of the draws (NaN ends with
    fewer than two draws); n counts draws. It describes the draws' spread; it is not an interval
    for their mean (`repeats_interval` is)."""
    v = np.asarray(values, np.float64)
    if len(v) < 2:
        return Interval(float(np.mean(v)), float("nan"), float("nan"), len(v))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(v, [tail, 100 - tail])
    return Interval(float(np.mean(v)), float(low), float(high), len(v))


def _test_ids(store: StoredDataset, s: SegmentSettings) -> NDArray[np.int64]:
    ids = store.split(s.split).index.to_numpy().astype(np.int64)
    if len(ids) > s.test:
        ids = np.sort(np.random.default_rng(s.seed).choice(ids, s.test, replace=False))
    return ids


def draw_scores(
    model: DiffusionModel,
    store: StoredDataset,
    train: NDArray[np.int64],
    test: tuple[NDArray[np.float32], LabelMaps],
    s: SegmentSettings,
) -> dict[str, NDArray[np.float64]]:
    """Each method's Dice per class (C,) on the test images and maps, trained on the labelled
    slices `train`."""
    images, truth = test
    labelled = label_maps(store, train)
    c = len(labelled.classes)
    x = np.asarray(store.array("images")[train], np.float32)
    pick = np.arange(len(train))
    if len(train) > s.max_slices:
        pick = np.sort(np.random.default_rng(s.seed).choice(pick, s.max_slices, replace=False))
    seg = fit_segmenter(model, x[pick], labelled.maps[pick], c, s.segmenter)
    out = {OURS: class_dice(segment(seg, images), truth.maps, c)}
    for name, trainer in PEERS.items():
        net = trainer(x, labelled.maps, c, s.peers)
        out[name] = class_dice(predict_peer(net, images), truth.maps, c)
    return out


def _claim(n: int | None, cls: str, scores: dict[str, NDArray[np.float64]], margin: float) -> Claim:
    """Ours against the peer with the best mean Dice on `cls`, the gain paired by draw."""
    peers = [m for m in scores if m != OURS]
    best = max(peers, key=lambda m: float(np.nanmean(scores[m])))
    return Claim(
        "segment",
        f"{cls} Dice at N = {'all' if n is None else n}",
        OURS,
        best,
        float(np.nanmean(scores[OURS])),
        float(np.nanmean(scores[best])),
        repeats_interval(scores[OURS] - scores[best]),
        margin,
        unit="draws",
    )


def segment_table(model: DiffusionModel, store: StoredDataset, s: SegmentSettings) -> Table:
    """Dice per class, method and N (mean over draws, percentile interval), and the claims."""
    ids = _test_ids(store, s)
    truth = label_maps(store, ids)
    test = (np.asarray(store.array("images")[ids], np.float32), truth)
    classes = truth.classes
    rows, claims = [], []
    for n in s.counts:
        found: dict[str, list[NDArray[np.float64]]] = {}
        for k, train in enumerate(draw_labelled(store, n, s.draws, s.seed)):
            seeded = _reseeded(s, k)
            for name, dice in draw_scores(model, store, train, test, seeded).items():
                found.setdefault(name, []).append(dice)
        by_method = {name: np.stack(v) for name, v in found.items()}  # (draws, C)
        for name, dice in by_method.items():
            for c, cls in enumerate(classes):
                i = draw_interval(dice[:, c])
                rows.append(_row(n, name, cls, i))
        for cls in TARGET_CLASSES:
            if n in TARGETS and cls in classes:
                c = classes.index(cls)
                at = {name: dice[:, c] for name, dice in by_method.items()}
                claims.append(_claim(n, cls, at, TARGETS[n]))
    table = pd.DataFrame(rows).set_index(["labels", "method", "class"])
    return Table(table, claims, _note(s, len(ids)), {})


def _reseeded(s: SegmentSettings, draw: int) -> SegmentSettings:
    """The settings with every method's seed set by the draw, so draws differ in training too."""

    seed = s.seed * 100 + draw
    pixels = replace(s.segmenter.pixels, seed=seed)
    return replace(
        s, segmenter=replace(s.segmenter, pixels=pixels), peers=replace(s.peers, seed=seed)
    )


def _row(n: int | None, method: str, cls: str, i: Interval) -> dict[str, object]:
    return {
        "labels": "all" if n is None else str(n),
        "method": method,
        "class": cls,
        "dice": i.estimate,
        "low": i.low,
        "high": i.high,
        "draws": i.n,
    }


def _note(s: SegmentSettings, n_test: int) -> str:
    return (
        f"Dice pooled over {n_test} {s.split} slices; {s.draws} draws of the N labelled train "
        f"slices per N (stratified: healthy, benign, malignant in even shares); ranges the "
        f"central {LEVEL:.0%} percentile of the draws, a claim's interval Student's t over the "
        f"draws (n counts draws; at N = all the draws share the slices and differ only in "
        f"training seeds). Caps: the segmenter reads "
        f"features of at most {s.max_slices} labelled slices and fits on at most "
        f"{s.segmenter.budget} pixels, {s.segmenter.pixels.steps} steps per MLP; each U-Net "
        f"trains {s.peers.steps} steps of {s.peers.batch} slices at every N, so N = all is "
        f"undertrained for both."
    )


def dice_text(table: pd.DataFrame) -> str:
    """The Dice table as text: a row per N and method (in the table's order), a column per
    class, each cell "mean [low, high]" over the draws."""
    cells = table.apply(lambda r: f"{r['dice']:.3f} [{r['low']:.3f}, {r['high']:.3f}]", axis=1)
    wide = cells.unstack("class")  # sorts its rows and columns: put back the table's order
    rows = list(dict.fromkeys(table.index.droplevel("class")))
    classes = list(dict.fromkeys(table.index.get_level_values("class")))
    return str(wide.loc[rows, classes].to_string())
