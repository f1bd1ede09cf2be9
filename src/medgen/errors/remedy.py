"""The remedy loop as an experiment with controls (*Machine Learning Yearning* ch. 14-16).

Error analysis names the slice that fails (brainstem tumours on the built-in scenario); the
remedy adds N training examples of that slice and retrains the detector, once per arm:

- baseline: nothing added (the detector as it is);
- real: N new slices of the failing kind from the data generator itself, the "more data"
  oracle (built-in data only: it re-runs the generator with the data's own config);
- diffusion / gan: N (slice, mask) pairs from a conditional joint generator
  (`medgen.tasks.augment`), tumour types and appearance (enhancement) drawn jointly from the
  slice's training tumours; with `oversample` K, the N of N K candidates most like them (in
  area, contrast, rim, texture and grain: `lesion_features`);
- inpaint: N tumours drawn by the joint diffusion model into healthy training slices of the same
  level, under masks of the slice's training tumours moved by a random affine (the anatomy and
  the noise's grain are real, the lesion is the model's, and the mask is exactly where the
  lesion is drawn); with `inpaint_shapes` "train", under any training tumour's shape placed
  where such a moved mask lies (`borrowed_shapes`); with `inpaint_contrast` "slice", each
  lesion deepened or faded to the contrast of the tumour whose mask it took (`at_contrast`),
  with "depth" to that tumour's depth below the tissue around it (`lesion_depths`);
  `inpaint_margin` is how far around the mask the model redraws (room for a soft margin and
  for the oedema that reaches past a malignant tumour's mask); with `inpaint_placement`
  "matched", each mask moved to where its tumour's surroundings lie in the healthy slice
  (`medgen.errors.placement`: two brains never line up pixel for pixel);
- augment: N classic augmentations of the slice's own training examples.

Each arm's detector is measured on the same held-out examples: the slice's error and the
overall error on the dev blackbox set (or the whole dev split without a project) and on test,
with Wilson 95% intervals. The share of the real arm's gain that an arm recovers is the number
the issue asks for: (baseline - arm) / (baseline - real) on the slice's test error.

One detector per arm is a noisy reading: retrained with another seed, the same arm's slice error
moves by several points, as much as the gains measured. With `detector_seeds` K every arm trains
K detectors (seeds seed ... seed + K - 1, the same added data) and its error is their mean, with
the seeds' spread beside the examples' Wilson interval; the shares are of the mean errors.
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from scipy.stats import binomtest

from medgen.config import from_dict
from medgen.data.conditions import condition_values
from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.data.synth.config import LOCATIONS, ScenarioConfig
from medgen.detect import Detector, DetectorConfig, load_detector, train_detector
from medgen.detect.extract import FEATURES, region_features
from medgen.errors.placement import placed_on_bases
from medgen.errors.tell import told_apart
from medgen.errors.web.images import draw_truth, encode_png
from medgen.exceptions import InputError
from medgen.fileio import write_bytes_atomic, write_json_atomic, write_text_atomic
from medgen.tasks.augment import (
    GRAIN_SCALE_PX,
    INPAINT_MARGIN,
    classic_augment,
    generate_with_masks,
    inpaint_with_masks,
    joint_condition_names,
)

SHOWN = 6  # examples per arm in added.png
ARMS = ("baseline", "real", "diffusion", "inpaint", "gan", "augment")
GENERATOR_OF = {"diffusion": "diffusion", "inpaint": "diffusion", "gan": "gan"}  # arm -> run kind
MATCHED = ("log_area", "contrast", "rim_minus_core", "inside_std")  # what a kept example matches
GRAIN_GAP_PX = 5  # the grain's reference: tissue this far from the lesion, past the blur's reach
TISSUE = 0.05  # intensity above which a pixel counts as tissue for the grain's reference
NEAREST_LEVELS = 10  # a drawn tumour's base: one of the healthy slices nearest the mask's level
Extra = tuple[np.ndarray, np.ndarray, np.ndarray]  # images, masks, class names
INPAINT_SHAPES = ("slice", "train")  # inpaint's masks: the slice's own, or borrowed_shapes
INPAINT_CONTRASTS = ("drawn", "slice", "depth")  # inpaint's lesion contrast: the model's, or
# at_contrast with the reference tumour's ring contrast ("slice") or its depth (`lesion_depths`)
DEPTH_RING_PX = (8, 11)  # lesion_depths' reference tissue: this far from the mask, past margin
# and oedema (the built-in malignant tumours' oedema reaches a median 3 px past the mask)
INPAINT_PLACEMENTS = ("copied", "matched")  # inpaint's masks: at their own coordinates, or
# moved to where their anatomy lies in the base (`placed_on_bases`)
MAX_CONTRAST_GAIN = 4.0  # at_contrast deepens a drawn lesion at most this many times


def stream(seed: int, purpose: str) -> np.random.Generator:
    """A random generator for one `purpose` of a seeded arm, independent of every other
    purpose's and of `np.random.default_rng(seed)`, which draws the arm's reference tumours.

    Why not default_rng(seed) everywhere: two generators seeded alike give the same stream, and
    bounded integers drawn from it with different bounds follow each other (draw i of
    integers(0, 40) and of integers(0, 10) come from the same 64 bits). Each reference tumour
    then met the same base slice and the same borrowed shape on every draw: the brainstem
    remedy's 1,600 candidates were drawn into 39 slices (benchmarks/results/detector.txt,
    session 31)."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


@dataclass(frozen=True)
class RemedyPlan:
    """What the experiment adds and where it measures."""

    slice: dict[str, str]  # metadata column -> value, e.g. {"location": "brainstem"}
    n: int  # examples added by each arm
    measure: dict[str, np.ndarray]  # set name -> dataset row ids measured
    seed: int = 0
    oversample: int = 1  # generator arms make this many candidates per example kept
    guidance: float | None = None  # diffusion arms' classifier-free guidance (None: the run's)
    detector_seeds: int = 1  # detectors trained per arm, their errors averaged
    inpaint_shapes: str = "slice"  # inpaint's mask shapes: INPAINT_SHAPES
    inpaint_contrast: str = "drawn"  # inpaint's lesion contrast: INPAINT_CONTRASTS
    inpaint_margin: int = INPAINT_MARGIN  # pixels around each mask that inpainting redraws
    inpaint_placement: str = "copied"  # where inpaint's masks go in the base: INPAINT_PLACEMENTS

    def __post_init__(self) -> None:
        if self.inpaint_margin < 0:
            raise ValueError(f"inpaint_margin must be >= 0, not {self.inpaint_margin}")
        for name, allowed in (("inpaint_shapes", INPAINT_SHAPES),
                              ("inpaint_contrast", INPAINT_CONTRASTS),
                              ("inpaint_placement", INPAINT_PLACEMENTS)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, "
                                 f"not {getattr(self, name)!r}")  # fmt: skip


def parse_slice(text: str, store: StoredDataset) -> dict[str, str]:
    """{"location": "brainstem"} from "location=brainstem", checked against the metadata."""
    try:
        values = condition_values(text)
    except ValueError as err:
        raise InputError("--slice", str(err)) from None
    if not values:
        raise InputError("--slice", "name the failing slice, e.g. location=brainstem")
    for column, value in values.items():
        if column not in store.meta:
            raise InputError("--slice", f"no metadata column {column!r}")
        if value not in set(store.meta[column].astype(str)):
            raise InputError("--slice", f"no slice has {column}={value}")
    return values


def in_slice(meta: pd.DataFrame, values: dict[str, str]) -> np.ndarray:
    """Boolean mask of the rows of `meta` in the slice."""
    keep = np.ones(len(meta), dtype=bool)
    for column, value in values.items():
        keep &= meta[column].astype(str).to_numpy() == value
    return keep


def slice_train_ids(store: StoredDataset, values: dict[str, str]) -> np.ndarray:
    """Training rows in the slice (tumour slices only: the remedy adds tumours)."""
    train = store.split("train")
    keep = in_slice(train, values) & (train["label"].to_numpy() == 1)
    return train.index.to_numpy()[keep]


def real_examples(store: StoredDataset, values: dict[str, str], n: int, seed: int) -> Extra:
    """n new tumour slices of the slice's location from the data generator (the oracle)."""
    if set(values) != {"location"} or "config" not in store.manifest:
        raise InputError("--slice", "the real-data arm re-runs the built-in generator, which "
                                    "makes slices by location only, on built-in data")  # fmt: skip
    base = from_dict(DataConfig, store.manifest["config"], f"{store.root} manifest config")
    weights = {loc: 1.0 if loc == values["location"] else 0.0 for loc in LOCATIONS}
    scenario = ScenarioConfig(tumour_fraction=1.0, location_prevalence={"train": weights})
    config = replace(base, n_train=n, n_dev=0, n_test=0, seed=base.seed + 1_000_003 + seed,
                     scenario=scenario)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        make_dataset(Path(tmp) / "extra", config, workers=1)
        extra = open_dataset(Path(tmp) / "extra")
        return (np.asarray(extra.array("images"), dtype=np.float32),
                np.asarray(extra.array("tumour_mask")).astype(bool),
                extra.meta["tumour_type"].astype(str).to_numpy())  # fmt: skip


def generation_conditions(
    store: StoredDataset, values: dict[str, str], names: Sequence[str], n: int, seed: int
) -> list[dict[str, str]]:
    """n condition dicts for a generator conditioned on `names`: the slice's values, and every
    other attribute drawn jointly, a random training tumour of the slice at a time (of any
    location where the slice has none), so tumour types and appearances keep its proportions."""
    pool = slice_train_ids(store, values)
    if pool.size == 0:
        train = store.split("train")
        pool = train.index.to_numpy()[train["label"].to_numpy() == 1]
    drawn = np.random.default_rng(seed).choice(pool, size=n)
    return attribute_conditions(store, values, names, drawn)


def attribute_conditions(
    store: StoredDataset, values: dict[str, str], names: Sequence[str], ids: np.ndarray
) -> list[dict[str, str]]:
    """One condition dict per row id: the slice's values, the rest of `names` from the row."""
    others = [name for name in names if name not in values]
    rows = store.meta.loc[ids, others].astype(str)
    return [{**values, **row} for row in rows.to_dict(orient="records")]


def generated_examples(run: Path, store: StoredDataset, plan: RemedyPlan) -> Extra:
    """n (slice, mask) pairs from a joint generator run, with their tumour types (the n of
    n x oversample candidates that look most like the slice's training tumours)."""
    names = joint_condition_names(run)
    wanted = plan.n * plan.oversample
    conditions = generation_conditions(store, plan.slice, names, wanted, plan.seed)
    images, masks = generate_with_masks(run, conditions, seed=plan.seed, guidance=plan.guidance)
    kinds = np.array([c["tumour_type"] for c in conditions])
    return _most_like_the_slice(store, plan, (images, masks, kinds))


def inpainting_bases(store: StoredDataset, reference: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n healthy training slice ids, each near the level of `reference` (the mask's own slice):
    drawn at random among every healthy slice no farther in `source_z` than the NEAREST_LEVELS-th
    nearest, ties all included (any healthy slice without that column).

    Why the ties: the built-in data hold about 34 healthy slices per level, each posed, biased
    and noised on its own; taking the NEAREST_LEVELS first of a tie in index order left the rest
    unused, and a detector learns few backgrounds with their lesions (the draw's own stream:
    `stream`)."""
    train = store.split("train")
    healthy = train.index.to_numpy()[train["label"].to_numpy() == 0]
    if healthy.size == 0:
        raise InputError("--slice", "the train split has no healthy slice to draw tumours into")
    rng = stream(seed, "inpainting bases")
    if "source_z" not in store.meta:
        return rng.choice(healthy, size=n)
    level = store.meta.loc[healthy, "source_z"].to_numpy(dtype=float)
    wanted = store.meta.loc[reference, "source_z"].to_numpy(dtype=float)
    nth = min(NEAREST_LEVELS, healthy.size) - 1
    out = np.empty(n, dtype=healthy.dtype)
    for i, z in enumerate(wanted):
        gap = np.abs(level - z)
        near = np.flatnonzero(gap <= np.partition(gap, nth)[nth])
        out[i] = healthy[rng.choice(near)]
    return out


def inpainted_examples(run: Path, store: StoredDataset, plan: RemedyPlan) -> Extra:
    """n tumours of the slice drawn by a joint diffusion model into healthy training slices."""
    ids = slice_train_ids(store, plan.slice)
    if ids.size == 0:
        raise InputError(
            "--slice", "the train split has no tumour in this slice to take masks from"
        )
    images, masks, kinds = slice_tumours(store, plan.slice)
    wanted = plan.n * plan.oversample
    picks = np.random.default_rng(plan.seed).integers(0, len(images), wanted)  # as classic_augment
    references, moved = classic_augment(images, masks, wanted, plan.seed)
    if plan.inpaint_shapes == "train":
        moved = borrowed_shapes(store, moved, plan.seed)
    bases = inpainting_bases(store, ids[picks], wanted, plan.seed)
    base_images = np.asarray(store.array("images")[bases], dtype=np.float32)
    if plan.inpaint_placement == "matched":
        moved, _ = placed_on_bases(references, moved, base_images)
    if "brain_mask" in store.arrays:  # a moved mask stays inside the base's brain
        inside = moved & np.asarray(store.array("brain_mask")[bases]).astype(bool)
        moved = np.where(inside.any(axis=(1, 2))[:, None, None], inside, moved)
    names = joint_condition_names(run)  # the reference tumour's own type and appearance
    conditions = attribute_conditions(store, plan.slice, names, ids[picks])
    drawn = inpaint_with_masks(run, base_images, moved, conditions, seed=plan.seed,
                               guidance=plan.guidance, margin=plan.inpaint_margin)  # fmt: skip
    if plan.inpaint_contrast != "drawn":  # each lesion as deep as its reference tumour
        gauge = ring_contrasts if plan.inpaint_contrast == "slice" else lesion_depths
        targets = gauge(images, masks)[picks]
        drawn = at_contrast(drawn, base_images, moved, targets, gauge=gauge)
    return _most_like_the_slice(store, plan, (drawn, moved, kinds[picks]))


def ring_contrasts(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N,) each tumour's contrast as the detector's region features measure it: its mean
    intensity minus that of a 2 px ring around it (NaN where the mask is empty)."""
    column = FEATURES.index("contrast")
    return np.array([region_features(x, m.astype(np.float32), m)[column] if m.any() else np.nan
                     for x, m in zip(images, masks, strict=True)])  # fmt: skip


def lesion_depths(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N,) how far each lesion stands from the tissue it replaced: its mean intensity minus
    that of the tissue (pixels above TISSUE) DEPTH_RING_PX from its mask (NaN where the mask is
    empty or no tissue lies there).

    Why not `ring_contrasts`: a soft margin and a malignant tumour's oedema darken the 2 px
    ring with the tumour, so the ring contrast of the built-in brainstem tumours is small
    (median -0.02) while their cores lie well below the tissue around them (mean -0.14 against
    tissue 8-11 px away; the inpaint arm's drawn lesions: -0.21). Matching ring contrast faded
    the drawn lesions far below the real ones' depth (benchmarks/results/detector.txt,
    session 27)."""
    near, far = DEPTH_RING_PX
    out = np.full(len(images), np.nan)
    for i, (x, mask) in enumerate(zip(images, masks, strict=True)):
        if not mask.any():
            continue
        distance = ndimage.distance_transform_edt(~mask)
        ring = (distance >= near) & (distance <= far) & (x > TISSUE)
        if ring.any():
            out[i] = float(x[mask].mean() - x[ring].mean())
    return out


def at_contrast(
    drawn: np.ndarray,
    bases: np.ndarray,
    masks: np.ndarray,
    targets: np.ndarray,
    max_gain: float = MAX_CONTRAST_GAIN,
    gauge: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Each drawn lesion deepened or faded to the contrast targets[i] as `gauge` measures it
    (`ring_contrasts`, the default, or `lesion_depths`, linear in the image while the redrawn
    margin stays inside DEPTH_RING_PX).

    The lesion is what inpainting changed, drawn - base (zero outside the redrawn pixels); it is
    scaled by the gain g that brings the tumour's contrast to its target, so the slice becomes
    base + g (drawn - base): the base's anatomy and grain stay, the model's lesion keeps its
    shape and texture, and only its depth changes. Contrast is linear in the image, so g =
    (target - contrast(base)) / (contrast(drawn) - contrast(base)), capped at `max_gain`. A
    lesion whose sign is wrong for its target (a bright one drawn where the target is dark),
    flat, or with no target is left as drawn: the likeness filter judges it.

    Why: on the built-in data the model draws the brainstem's faint tumours about twice as dark
    as the slice's own (contrast -0.05 against -0.02), an easier cue than the real tumours
    carry; a detector that learns it finds its added tumours and misses the faint real ones.
    """
    gauge = gauge or ring_contrasts
    out = np.array(drawn, dtype=np.float32, copy=True)
    for i, (x, base, mask, target) in enumerate(zip(drawn, bases, masks, targets, strict=True)):
        if not mask.any() or not np.isfinite(target):
            continue
        lesion = gauge(np.stack([x, base]), np.stack([mask, mask]))
        depth, wanted = lesion[0] - lesion[1], target - lesion[1]
        if abs(depth) < 1e-6 or depth * wanted < 0:
            continue
        gain = min(wanted / depth, max_gain)
        out[i] = np.clip(base + gain * (x - base), 0.0, 1.0)
    return out


def borrowed_shapes(store: StoredDataset, masks: np.ndarray, seed: int) -> np.ndarray:
    """Each mask replaced by the shape of a training tumour drawn at random from every location,
    its centre of mass moved to the mask's (rounded to a pixel; an empty mask stays empty).

    A slice that fails is a rare one: its few training tumours give inpainting few shapes and
    sizes to draw under, and the tumours it is measured on vary more (on the built-in data the
    40 training brainstem tumours' median area is 10 px, the dev set's 15 px). Shapes of the
    other locations' tumours keep the slice's positions and add that variety; an oversample
    filter, which matches area to the slice's own tumours, takes back part of it (measured in
    benchmarks/results/detector.txt, 2026-12-04: no gain on the built-in data, but then each
    reference tumour borrowed one shape and met one base slice every time; see `stream`)."""
    train = store.split("train")
    tumours = np.sort(train.index.to_numpy()[train["label"].to_numpy() == 1])
    shapes = np.asarray(store.array("tumour_mask")[tumours]).astype(bool)
    shapes = shapes[shapes.any(axis=(1, 2))]  # never empty: the slice's own tumours are here
    picks = stream(seed, "borrowed shapes").integers(0, len(shapes), len(masks))
    out = np.zeros_like(masks, dtype=bool)
    for i, j in enumerate(picks):
        if not masks[i].any():
            continue
        offset = np.subtract(ndimage.center_of_mass(masks[i]), ndimage.center_of_mass(shapes[j]))
        moved = ndimage.shift(shapes[j].astype(np.uint8), np.round(offset), order=0)
        out[i] = moved > 0
    return out


def closest_to_reference(
    candidates: np.ndarray, reference: np.ndarray, n: int, seed: int
) -> np.ndarray:
    """Indices of n rows of `candidates` (features; NaN rows: no tumour) that look most like
    the rows of `reference`: reference rows, drawn at random, each take the nearest candidate
    not yet taken, distances in units of the reference's spread per feature. A filter on what
    a generator makes, so an arm's added data match the slice's own tumours (`added.csv` is
    the check that they do)."""
    if n > len(candidates):
        raise ValueError(f"{n} wanted from {len(candidates)} candidates")
    scale = np.nanstd(reference, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, 1.0)
    distance = np.linalg.norm((candidates[:, None, :] - reference[None, :, :]) / scale, axis=2)
    distance = np.where(np.isnan(distance), np.inf, distance)  # no tumour: taken last
    rng = np.random.default_rng(seed)
    taken = np.zeros(len(candidates), dtype=bool)
    kept = []
    for j in rng.integers(0, len(reference), n):
        order = np.argsort(np.where(taken, np.nan, distance[:, j]), kind="stable")  # NaN last
        kept.append(int(order[0]))
        taken[order[0]] = True
    return np.array(kept, dtype=np.int64)


def lesion_grain(image: np.ndarray, mask: np.ndarray) -> float:
    """How grainy the lesion is against the rest of its slice: the spread of the fine detail
    (image minus its GRAIN_SCALE_PX Gaussian blur) inside `mask`, over its spread on tissue
    more than GRAIN_GAP_PX from the lesion and 2 px inside the tissue's edge (anatomy's own
    edges are not grain). About 0.9 for the built-in data's brainstem tumours, smooth under
    the slice's noise; a generator that paints its lesions with extra speckle scores well above
    1, a texture no real tumour has and a detector could learn. NaN where the tissue around is
    flat or missing: nothing to compare with."""
    image = np.asarray(image, dtype=np.float64)  # so that a flat slice has no detail at all
    detail = image - ndimage.gaussian_filter(image, GRAIN_SCALE_PX)
    tissue = ndimage.binary_erosion(image > TISSUE, iterations=2)
    near = ndimage.binary_dilation(mask, np.ones((3, 3), bool), iterations=GRAIN_GAP_PX)
    reference = tissue & ~near
    around = float(detail[reference].std()) if reference.sum() > 1 else 0.0
    return float(detail[mask].std()) / around if around > 1e-6 else float("nan")


def lesion_features(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, len(MATCHED) + 1) features of each example's masked tumour, MATCHED then its grain
    (NaN where no mask)."""
    columns = [FEATURES.index(name) for name in MATCHED]
    out = np.full((len(masks), len(MATCHED) + 1), np.nan)
    for i, (x, m) in enumerate(zip(images, masks, strict=True)):
        if m.any():
            out[i, :-1] = region_features(x, m.astype(np.float32), m)[columns]
            out[i, -1] = lesion_grain(x, m)
    return out


def _most_like_the_slice(store: StoredDataset, plan: RemedyPlan, candidates: Extra) -> Extra:
    """The plan.n candidates closest to the slice's training tumours (all if not oversampled)."""
    if plan.oversample == 1:
        return candidates
    reference = slice_tumours(store, plan.slice)
    if len(reference[0]) == 0:  # nothing to match: the first plan.n
        return candidates[0][: plan.n], candidates[1][: plan.n], candidates[2][: plan.n]
    keep = closest_to_reference(lesion_features(*candidates[:2]),
                                lesion_features(*reference[:2]), plan.n, plan.seed)  # fmt: skip
    return candidates[0][keep], candidates[1][keep], candidates[2][keep]


def augmented_examples(store: StoredDataset, plan: RemedyPlan) -> Extra:
    """n classic augmentations of the slice's training tumours."""
    images, masks, kinds = slice_tumours(store, plan.slice)
    if len(images) == 0:
        raise InputError("--slice", "the train split has no tumour in this slice to augment")
    new_images, new_masks = classic_augment(images, masks, plan.n, plan.seed)
    picks = np.random.default_rng(plan.seed).integers(0, len(images), plan.n)  # as classic_augment
    return new_images, new_masks, kinds[picks]


def describe_examples(name: str, images: np.ndarray, masks: np.ndarray) -> dict[str, Any]:
    """What a set of (slice, mask) tumour examples looks like, to compare an arm's added data
    with the slice's real training tumours before trusting a retrained detector: the share
    with a tumour mask, then medians over those of the mask's area, how the tumour stands out
    from its ring, rim minus core, its grain (`lesion_grain`) and where it sits (rows and
    columns in [0, 1])."""
    with_mask = masks.any(axis=tuple(range(1, masks.ndim)))  # (N,), also for N = 0
    feats = np.full((1, len(FEATURES)), np.nan)
    if with_mask.any():
        pairs = zip(images[with_mask], masks[with_mask], strict=True)
        feats = np.stack([region_features(x, m.astype(np.float32), m) for x, m in pairs])
    median = dict(zip(FEATURES, np.median(feats, axis=0), strict=True))
    grain = [lesion_grain(x, m) for x, m in zip(images[with_mask], masks[with_mask], strict=True)]
    row: dict[str, Any] = {
        "examples": name,
        "n": len(masks),
        "with_mask": float(with_mask.mean()) if len(masks) else float("nan"),
        "area_px": float(np.expm1(median["log_area"])),
    }
    for feature in ("contrast", "rim_minus_core", "centroid_row", "centroid_col"):
        row[feature] = float(median[feature])
    row["grain"] = float(np.median(grain)) if grain else float("nan")
    return row


def examples_picture(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """PNG: one row per set of (images, masks), its first SHOWN examples with mask outlines."""
    pictures = []
    for images, masks in rows:
        tiles = [draw_truth(x, m) for x, m in zip(images[:SHOWN], masks[:SHOWN], strict=True)]
        blank = np.zeros_like(draw_truth(rows[0][0][0], rows[0][1][0]))
        pictures.append(np.concatenate(tiles + [blank] * (SHOWN - len(tiles)), axis=1))
    return encode_png(np.concatenate(pictures, axis=0))


def slice_tumours(store: StoredDataset, values: dict[str, str]) -> Extra:
    """The slice's training tumours as (images, masks, class names)."""
    ids = slice_train_ids(store, values)
    return (np.asarray(store.array("images")[ids], dtype=np.float32),
            np.asarray(store.array("tumour_mask")[ids]).astype(bool),
            store.meta.loc[ids, "tumour_type"].astype(str).to_numpy())  # fmt: skip


def error_with_interval(wrong: np.ndarray) -> dict[str, float]:
    """Error rate and its Wilson 95% interval."""
    return wilson(int(wrong.sum()), int(wrong.size))


def wilson(k: float, n: int) -> dict[str, float]:
    """Error k / n and its Wilson 95% interval (k rounded: a mean over seeds may be fractional)."""
    if n == 0:
        return {"error": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    ci = binomtest(round(k), n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"error": k / n, "low": float(ci.low), "high": float(ci.high), "n": n}


def measure(
    run: Path, store: StoredDataset, plan: RemedyPlan, arm: str, added: int, seed: int = 0
) -> list[dict]:
    """The arm's slice and overall error on each measured set, by its detector of `seed`."""
    detector = load_detector(run)
    rows = []
    for name, ids in plan.measure.items():
        outputs = detector.run(store, ids)
        meta = store.meta.loc[ids]
        wrong = outputs.prediction != meta["tumour_type"].astype(str).to_numpy()
        tumour_slice = in_slice(meta, plan.slice) & (meta["label"].to_numpy() == 1)
        for scope, keep in (("slice", tumour_slice), ("overall", np.ones(len(ids), dtype=bool))):
            rows.append({"arm": arm, "added": added, "set": name, "scope": scope, "seed": seed,
                         **error_with_interval(wrong[keep])})  # fmt: skip
    return rows


def found_share(detector: Detector, images: np.ndarray, masks: np.ndarray) -> float:
    """Share of the tumours (slices with a mask) whose region the detector's extract part finds:
    its region touches the mask. NaN without a tumour."""
    with_mask = masks.any(axis=(1, 2))
    if not with_mask.any():
        return float("nan")
    regions = detector.regions(images[with_mask])
    return float((regions & masks[with_mask]).any(axis=(1, 2)).mean())


def found_row(
    run: Path, store: StoredDataset, plan: RemedyPlan, arm: str, extra: Extra | None
) -> dict[str, Any]:
    """How often the arm's detector finds the tumours it was given (the added examples, most of
    them seen in training) and the slice's tumours in each measured set. The real arm is the
    yardstick: its detectors also find their own examples more often than held-out ones. An
    arm whose detectors find their own as often or more, and the held-out ones far less, added
    tumours that are easy to learn and teach little about real ones: a cue the real tumours
    lack (*Machine Learning Yearning* ch. 43: synthesised data that look real to a person may
    still be told apart by the learning algorithm)."""
    detector = load_detector(run)
    row: dict[str, Any] = {"arm": arm, "found_added": float("nan")}
    if extra is not None:
        row["found_added"] = found_share(detector, extra[0], extra[1])
    for name, ids in plan.measure.items():
        meta = store.meta.loc[ids]
        tumours = np.sort(ids[in_slice(meta, plan.slice) & (meta["label"].to_numpy() == 1)])
        images = np.asarray(store.array("images")[tumours], dtype=np.float32)
        masks = np.asarray(store.array("tumour_mask")[tumours]).astype(bool)
        row[f"found_{name}"] = found_share(detector, images, masks)
    return row


def over_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """One row per arm, set and scope: the mean error over the detector seeds, the Wilson
    interval of that mean on the n examples, the number of seeds and their std (NaN for one)."""
    keys = ["arm", "added", "set", "scope"]
    rows = []
    for key, group in per_seed.groupby(keys, sort=False):
        n = int(group["n"].iloc[0])
        mean = float(group["error"].mean())
        spread = float(group["error"].std(ddof=1)) if len(group) > 1 else float("nan")
        rows.append({**dict(zip(keys, key, strict=True)), **wilson(mean * n, n),
                     "seeds": len(group), "seed_std": spread})  # fmt: skip
    return pd.DataFrame(rows)


def seeded(config: DetectorConfig, k: int) -> DetectorConfig:
    """The detector config with every part's seed moved on by k (k = 0: the same config)."""
    return replace(config, seed=config.seed + k,
                   extract=replace(config.extract, seed=config.extract.seed + k),
                   classify=replace(config.classify, seed=config.classify.seed + k))  # fmt: skip


def recovered(table: pd.DataFrame, set_name: str = "test") -> dict[str, float]:
    """(baseline - arm) / (baseline - real) of the slice error on `set_name`, per arm."""
    slice_rows = table[(table["set"] == set_name) & (table["scope"] == "slice")]
    error = dict(zip(slice_rows["arm"], slice_rows["error"], strict=True))
    if "baseline" not in error or "real" not in error or error["baseline"] <= error["real"]:
        return {}
    gap = error["baseline"] - error["real"]
    return {arm: (error["baseline"] - e) / gap for arm, e in error.items() if arm != "baseline"}


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows for JSON: NaN (not measured, one seed's spread) as null."""
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")


def _constant(extra: Extra | None) -> Callable[[], Extra] | None:
    """`extra` as the callable train_detector takes (None stays None)."""
    return None if extra is None else lambda: extra


def _train_alone(
    data: Path, run: Path, config: DetectorConfig, extra: Extra | None, threads: int
) -> None:
    """One remedy detector, trained in a worker process with the parent's torch threads."""
    torch.set_num_threads(threads)
    train_detector(data, run, config, extra=_constant(extra), overwrite=True, log=lambda _: None)


class DetectorTrainer:
    """Trains the remedy's detectors in turn (`jobs` 1) or `jobs` at once in fresh processes.

    Every worker uses the parent's torch thread count, the one thing besides the seed that
    moves a trained detector on a CPU (benchmarks/results/detector.txt, session 29), so a
    detector comes out as it would alone and arms trained at once stay comparable. Submitting
    returns at once: the caller makes the next arm's examples while the workers train. Leaving
    the `with` block waits for every detector and raises the first failure; leaving it on an
    error drops the detectors not yet started (each detector is written whole or not at all)."""

    def __init__(self, data: str | Path, jobs: int = 1) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, not {jobs}")
        self.data, self.jobs, self.threads = Path(data), jobs, torch.get_num_threads()
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[Future[None]] = []

    def __enter__(self) -> DetectorTrainer:
        if self.jobs > 1:  # spawn: torch's threads do not survive a fork
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=mp.get_context("spawn"))
        return self

    def submit(self, run: Path, config: DetectorConfig, extra: Extra | None) -> None:
        if self.pool is None:
            train_detector(self.data, run, config, extra=_constant(extra), overwrite=True,
                           log=lambda _: None)  # fmt: skip
            return
        args = (self.data, run, config, extra, self.threads)
        self.pending.append(self.pool.submit(_train_alone, *args))

    def __exit__(self, failure: type[BaseException] | None, *_: object) -> None:
        if self.pool is None:
            return
        try:  # after a failure here, only the detectors already in training are finished
            for future in self.pending if failure is None else ():
                future.result()
        finally:
            self.pool.shutdown(cancel_futures=True)


def detector_folder(out: Path, arm: str, k: int) -> Path:
    """Where the arm's detector of seed k (0, 1, ...) lives: ARM/, then ARM-seed1/, ..."""
    return out / (arm if k == 0 else f"{arm}-seed{k}")


def arm_sources(
    store: StoredDataset,
    plan: RemedyPlan,
    arms: Sequence[str] = ARMS,
    diffusion_run: str | Path | None = None,
    gan_run: str | Path | None = None,
) -> dict[str, Callable[[], Extra] | None]:
    """arm -> what makes its added examples (None: the baseline adds nothing), for the arms
    named in `arms` that can run (the generator arms need their run), in ARMS order."""
    sources: dict[str, Callable[[], Extra] | None] = {
        "baseline": None,
        "real": lambda: real_examples(store, plan.slice, plan.n, plan.seed),
    }
    if diffusion_run is not None:
        sources["diffusion"] = lambda: generated_examples(Path(diffusion_run), store, plan)
        sources["inpaint"] = lambda: inpainted_examples(Path(diffusion_run), store, plan)
    if gan_run is not None:
        sources["gan"] = lambda: generated_examples(Path(gan_run), store, plan)
    sources["augment"] = lambda: augmented_examples(store, plan)
    return {arm: source for arm, source in sources.items() if arm in arms}


def remedy_experiment(
    data: str | Path,
    out: str | Path,
    plan: RemedyPlan,
    config: DetectorConfig,
    *,
    arms: Sequence[str] = ARMS,
    diffusion_run: str | Path | None = None,
    gan_run: str | Path | None = None,
    baseline_run: str | Path | None = None,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run the chosen arms (generator arms need their run); write remedy.csv/.json (errors
    averaged over plan.detector_seeds detectors per arm), remedy_seeds.csv (each detector's),
    added.csv/.png (what each arm added; `told_apart`: how well a classifier tells its tumours
    from the slice's training tumours, which, few as they are on a failing slice, show only a
    strong tell), found.csv (`found_row`) and each arm's detectors
    (ARM/, then ARM-seed1/, ...). `baseline_run`: an already trained
    detector with the same config to measure as the baseline's first seed instead of training
    it again. `jobs` > 1 trains that many detectors at once (`DetectorTrainer`), each as it
    would be trained alone."""
    out, store = Path(out), open_dataset(data)
    sources = arm_sources(store, plan, arms, diffusion_run, gan_run)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    reference = slice_tumours(store, plan.slice)
    audit = [describe_examples("the slice's training tumours", reference[0], reference[1])]
    shown = [(reference[0], reference[1])]
    trained: list[tuple[str, int, Path, Extra | None]] = []  # measured in this order
    with DetectorTrainer(data, jobs) as trainer:
        for arm, source in sources.items():
            added = 0 if source is None else plan.n
            extra = None if source is None else source()  # made here while workers train
            if extra is not None:
                row = describe_examples(f"{arm} arm", extra[0], extra[1])
                audit.append({**row, "told_apart": told_apart(reference[:2], extra[:2], plan.seed)})
                shown.append((extra[0], extra[1]))
            for k in range(plan.detector_seeds):
                run = detector_folder(out, arm, k)
                if arm == "baseline" and baseline_run is not None and k == 0:
                    run = Path(baseline_run)
                else:
                    seeds = f" (detector seed {k + 1} of {plan.detector_seeds})"
                    log(f"arm {arm}: retraining the detector with {added} examples added"
                        + (seeds if plan.detector_seeds > 1 else ""))  # fmt: skip
                    trainer.submit(run, seeded(config, k), extra)
                trained.append((arm, k, run, extra))
    for arm, k, run, extra in trained:
        added = 0 if extra is None else plan.n
        rows += measure(run, store, plan, arm, added, config.seed + k)
        found.append(found_row(run, store, plan, arm, extra))
    per_seed = pd.DataFrame(rows)
    table = over_seeds(per_seed)
    found_table = pd.DataFrame(found).groupby("arm", sort=False).mean().reset_index()
    write_text_atomic(out / "found.csv", found_table.to_csv(index=False))
    log("share of the slice's tumours each arm's detector finds (region on the tumour; mean "
        "over its detectors): its added examples, then the slice's held-out ones\n"
        + found_table.to_string(index=False, float_format="{:.3f}".format))  # fmt: skip
    added_table = pd.DataFrame(audit)
    write_text_atomic(out / "added.csv", added_table.to_csv(index=False))
    if len(reference[0]):  # rows: the slice's training tumours, then each arm's added examples
        write_bytes_atomic(out / "added.png", examples_picture(shown))
    log("what each arm added, against the slice's training tumours:\n"
        + added_table.to_string(index=False, float_format="{:.3f}".format))  # fmt: skip
    write_text_atomic(out / "remedy.csv", table.to_csv(index=False))
    write_text_atomic(out / "remedy_seeds.csv", per_seed.to_csv(index=False))
    write_json_atomic(out / "remedy.json", {
        "slice": plan.slice, "n": plan.n, "seed": plan.seed,
        "detector_seeds": plan.detector_seeds, "inpaint_shapes": plan.inpaint_shapes,
        "inpaint_contrast": plan.inpaint_contrast, "inpaint_margin": plan.inpaint_margin,
        "inpaint_placement": plan.inpaint_placement,
        "measured": {k: int(v.size) for k, v in plan.measure.items()},
        "recovered_share_of_real_gain": recovered(table),
        "added": _records(added_table),
        "found": _records(found_table),
        "rows": _records(table),
        "rows_per_seed": _records(per_seed),
    })  # fmt: skip
    return table
