"""The inpaint arm's variants, as remedy arms registered beside `medgen.errors.remedy.arms.ARMS`.

`arms.inpainted_examples` keeps the recipe that won; `inpainted_variant` is that arm with the
options it was measured against, as NVlabs/edm keeps `ablation_sampler` beside `edm_sampler`:

- shapes "train": the masks take the shapes of any location's training tumours
  (`borrowed_shapes`), where the slice's own tumours give few shapes and sizes;
- contrast "slice" / "depth": each drawn lesion deepened or faded to its reference tumour's
  contrast against its 2 px ring (`ring_contrasts`) or against the tissue past its margin
  (`lesion_depths`), by `at_contrast`;
- margin: how far around the mask inpainting redraws (room for a soft margin and oedema);
- placement "matched": each mask moved onto its tumour's anatomy in the base slice
  (`placement.placed_on_bases`).

With every default `inpainted_variant` returns what `arms.inpainted_examples` returns. `VARIANTS`
names one variant per option for `experiment.chosen_arms(names, VARIANTS)`; `run_variants.py`
runs them. What each measured is in experiments/remedy/NOTES.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from placement import placed_on_bases
from scipy import ndimage

from medgen.data.store import StoredDataset
from medgen.detect.extract import FEATURES, region_features
from medgen.errors.remedy.arms import (
    Arm,
    attribute_conditions,
    inpainting_bases,
    most_like_the_slice,
)
from medgen.errors.remedy.lesions import TISSUE
from medgen.errors.remedy.plan import Added, RemedyPlan, stream
from medgen.errors.remedy.slices import slice_tumours
from medgen.exceptions import SettingError
from medgen.tasks.augment import (
    INPAINT_MARGIN,
    classic_augment,
    inpaint_with_masks,
    joint_condition_names,
)

Gauge = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (images, masks) -> (N,) lesion contrast

SHAPES = ("slice", "train")  # the masks: the slice's own tumours', or `borrowed_shapes`
PLACEMENTS = ("copied", "matched")  # the masks: at their own coordinates, or `placed_on_bases`
DEPTH_RING_PX = (8, 11)  # lesion_depths' reference tissue: this far from the mask, past margin
# and oedema (the built-in malignant tumours' oedema reaches a median 3 px past the mask)
MAX_CONTRAST_GAIN = 4.0  # at_contrast deepens a drawn lesion at most this many times


def ring_contrasts(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N,) each tumour's contrast as the detector's region features measure it: its mean
    intensity minus that of a 2 px ring around it (NaN where the mask is empty)."""
    column = FEATURES.index("contrast")
    return np.array(
        [
            region_features(x, m.astype(np.float32), m)[column] if m.any() else np.nan
            for x, m in zip(images, masks, strict=True)
        ]
    )


def lesion_depths(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N,) how far each lesion stands from the tissue it replaced: its mean intensity minus
    that of the tissue (pixels above TISSUE) DEPTH_RING_PX from its mask (NaN where the mask is
    empty or no tissue lies there).

    Why not `ring_contrasts`: a soft margin and a malignant tumour's oedema darken the 2 px
    ring with the tumour, so the ring contrast of the built-in brainstem tumours is small
    (median -0.02) while their cores lie well below the tissue around them (mean -0.14 against
    tissue 8-11 px away); matching ring contrast fades drawn lesions far below that depth."""
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


CONTRASTS: dict[str, Gauge | None] = {  # the lesions' contrast: the model's (None), or a gauge's
    "drawn": None,
    "slice": ring_contrasts,
    "depth": lesion_depths,
}


def at_contrast(
    drawn: np.ndarray,
    bases: np.ndarray,
    masks: np.ndarray,
    targets: np.ndarray,
    max_gain: float = MAX_CONTRAST_GAIN,
    gauge: Gauge = ring_contrasts,
) -> np.ndarray:
    """Each drawn lesion deepened or faded to the contrast targets[i] as `gauge` measures it
    (`ring_contrasts`, or `lesion_depths`, linear in the image while the redrawn margin stays
    inside DEPTH_RING_PX).

    The lesion is what inpainting changed, drawn - base (zero outside the redrawn pixels); it is
    scaled by the gain g that brings the tumour's contrast to its target, so the slice becomes
    base + g (drawn - base): the base's anatomy and grain stay, the model's lesion keeps its
    shape and texture, and only its depth changes. Contrast is linear in the image, so g =
    (target - contrast(base)) / (contrast(drawn) - contrast(base)), capped at `max_gain`. A
    lesion whose sign is wrong for its target (a bright one drawn where the target is dark),
    flat, or with no target is left as drawn: the likeness filter judges it.

    Why: on the built-in data the model draws the brainstem's faint tumours about twice as dark
    as the slice's own (contrast -0.05 against -0.02), an easier cue than the real tumours
    carry; a detector that learns it finds its added tumours and misses the faint real ones."""
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
    filter, which matches area to the slice's own tumours, takes back part of it."""
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


def _check_options(shapes: str, contrast: str, margin: int, placement: str) -> None:
    """SettingError naming the first option with a value `inpainted_variant` does not know."""
    for name, value, allowed in (
        ("shapes", shapes, SHAPES),
        ("contrast", contrast, tuple(CONTRASTS)),
        ("placement", placement, PLACEMENTS),
    ):
        if value not in allowed:
            raise SettingError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    if margin < 0:
        raise SettingError("margin", f"must be at least 0, got {margin}")


def inpainted_variant(
    store: StoredDataset,
    plan: RemedyPlan,
    run: Path | None,
    *,
    shapes: str = "slice",
    contrast: str = "drawn",
    margin: int = INPAINT_MARGIN,
    placement: str = "copied",
) -> Added:
    """`arms.inpainted_examples` with the options it was measured against (module docstring):
    n tumours of the slice drawn by a joint diffusion model into healthy training slices."""
    _check_options(shapes, contrast, margin, placement)
    assert run is not None, "the inpaint arm needs its diffusion run"
    own = slice_tumours(store, plan.slice)
    if len(own.images) == 0:
        raise SettingError(
            "slice", "the train split has no tumour in this slice to take masks from"
        )
    moved = classic_augment(own.images, own.masks, plan.n * plan.oversample, plan.seed)
    followed = own.sources[moved.picks]  # each example's reference tumour
    masks = moved.masks if shapes == "slice" else borrowed_shapes(store, moved.masks, plan.seed)
    bases = inpainting_bases(store, followed, len(followed), plan.seed)
    base_images = np.asarray(store.array("images")[bases], dtype=np.float32)
    if placement == "matched":  # each mask onto its tumour's anatomy in the base
        masks, _ = placed_on_bases(moved.images, masks, base_images)
    if "brain_mask" in store.arrays:  # a moved mask stays inside the base's brain
        inside = masks & np.asarray(store.array("brain_mask")[bases]).astype(bool)
        masks = np.where(inside.any(axis=(1, 2))[:, None, None], inside, masks)
    names = joint_condition_names(run)  # the reference tumour's own type and appearance
    conditions = attribute_conditions(store, plan.slice, names, followed)
    drawn = inpaint_with_masks(
        run, base_images, masks, conditions, seed=plan.seed, guidance=plan.guidance, margin=margin
    )
    gauge = CONTRASTS[contrast]
    if gauge is not None:  # each lesion as deep as its reference tumour
        targets = gauge(own.images, own.masks)[moved.picks]
        drawn = at_contrast(drawn, base_images, masks, targets, gauge=gauge)
    made = Added(drawn, masks, own.kinds[moved.picks], bases.astype(np.int64))
    return most_like_the_slice(store, plan, made, moved.picks[: plan.n])


def _variant(**options: Any) -> Arm:
    """An arm that runs `inpainted_variant` with `options`, drawing with the diffusion run."""
    return Arm(partial(inpainted_variant, **options), generator="diffusion", from_slice=True)


VARIANTS: dict[str, Arm] = {
    "inpaint-borrowed-shapes": _variant(shapes="train"),
    "inpaint-slice-contrast": _variant(contrast="slice"),
    "inpaint-depth-contrast": _variant(contrast="depth"),
    "inpaint-margin-6": _variant(margin=6),
    "inpaint-matched-placement": _variant(placement="matched"),
}
