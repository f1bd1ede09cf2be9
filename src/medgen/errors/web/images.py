"""The pictures of one example, rendered on the fly as PNG: the slice and each part's output.

Kinds (`KINDS`, an explicit registry; a URL names a kind, never a file):

- `input`: the slice the detector saw (dataset `images`, in [0, 1]);
- `preprocessed`: the preprocess part's output (`intermediate/preprocessed.npy`), shown with a
  robust 1-99 percentile window, since it is normalised, not in [0, 1];
- `probability`: the extract part's tumour-probability map (`intermediate/probability.npy`,
  0-255), on a black-red-yellow-white ramp;
- `region`: the extracted region's outline (`intermediate/region.npy`) in green over the
  preprocessed slice;
- `truth`: the true tumour outline (dataset `tumour_mask`) in magenta over the input slice.

Every picture is scaled up by an integer factor (nearest neighbour) to about DISPLAY_PX, so
single pixels stay visible; outlines are drawn after scaling, one display pixel wide.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from medgen.data.store import open_dataset
from medgen.detect.predictions import Predictions
from medgen.exceptions import InputError

DISPLAY_PX = 256  # pictures are scaled up to about this many pixels a side
INTERMEDIATE = ("preprocessed", "probability", "region")  # files in PRED/intermediate/
REGION_RGB = (0, 230, 0)
TRUTH_RGB = (255, 0, 255)

Array = np.ndarray[Any, Any]


@dataclass
class ExampleImages:
    """The arrays behind the pictures: dataset arrays by id, intermediate ones by CSV row."""

    arrays: dict[str, Array] = field(default_factory=dict)  # name -> (N, H, W), memory-mapped
    row_of: dict[int, int] = field(default_factory=dict)  # example id -> row of intermediates
    n_dataset: int = 0

    def slice(self, name: str, example_id: int) -> Array | None:
        """One (H, W) slice of array `name` for `example_id`, or None if not recorded."""
        array = self.arrays.get(name)
        if array is None:
            return None
        if name in INTERMEDIATE:
            row = self.row_of.get(example_id)
            return None if row is None else np.asarray(array[row])
        return np.asarray(array[example_id]) if 0 <= example_id < self.n_dataset else None

    def available(self) -> list[str]:
        """The kinds that can be drawn here, in display order."""
        return [kind for kind, (needs, _) in KINDS.items() if all(n in self.arrays for n in needs)]

    def png(self, kind: str, example_id: int) -> bytes | None:
        """The PNG of picture `kind` of `example_id`, or None if the kind or data is missing."""
        if kind not in KINDS:
            return None
        needs, draw = KINDS[kind]
        slices = [self.slice(name, example_id) for name in needs]
        if any(s is None for s in slices):
            return None
        return encode_png(draw(*[s for s in slices if s is not None]))


def load_images(predictions: Predictions) -> ExampleImages:
    """Map the arrays of `predictions` (intermediates) and its dataset; missing ones are skipped."""
    images = ExampleImages(row_of={int(i): row for row, i in enumerate(predictions.ids)})
    folder = Path(predictions.path) / "intermediate"
    for name in INTERMEDIATE:
        path = folder / f"{name}.npy"
        if path.is_file():
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.ndim == 3 and len(array) == len(predictions.table):
                images.arrays[name] = array
    try:
        dataset = open_dataset(predictions.data)
    except InputError:
        return images  # the dataset moved: intermediates only
    images.n_dataset = len(dataset)
    for name in ("images", "tumour_mask"):
        if name in dataset.arrays:
            images.arrays[name] = dataset.array(name)
    return images


def scale_factor(size: int) -> int:
    """The integer zoom that brings `size` pixels to about DISPLAY_PX."""
    return max(1, round(DISPLAY_PX / max(size, 1)))


def zoom(array: Array) -> Array:
    """Scale an (H, W[, C]) array up by `scale_factor` in both axes (nearest neighbour)."""
    k = scale_factor(max(array.shape[:2]))
    return np.repeat(np.repeat(array, k, axis=0), k, axis=1)


def grey(values: Array, low: float, high: float) -> Array:
    """(H, W) values windowed to [low, high] as an (H, W, 3) uint8 grey picture."""
    span = high - low if high > low else 1.0
    level = np.clip((np.asarray(values, dtype=np.float32) - low) / span, 0.0, 1.0)
    return np.repeat((level * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def robust_grey(values: Array) -> Array:
    """Grey picture of values of any range, windowed at their 1st and 99th percentiles."""
    finite = np.asarray(values, dtype=np.float32)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return grey(np.zeros_like(values, dtype=np.float32), 0.0, 1.0)
    low, high = np.percentile(finite, [1, 99])
    return grey(np.nan_to_num(values), float(low), float(high))


def heat(values: Array) -> Array:
    """(H, W) uint8 0-255 probabilities on a black-red-yellow-white ramp, (H, W, 3) uint8."""
    p = np.asarray(values, dtype=np.float32) / 255.0
    rgb = np.stack([np.clip(3 * p, 0, 1), np.clip(3 * p - 1, 0, 1), np.clip(3 * p - 2, 0, 1)], -1)
    return (rgb * 255).round().astype(np.uint8)


def outline(mask: Array) -> Array:
    """The boundary pixels of a boolean (H, W) mask: in it, with a 4-neighbour outside it."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = (
        padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    )  # all four neighbours inside
    return mask & ~inner


def overlay(picture: Array, mask: Array, rgb: tuple[int, int, int]) -> Array:
    """`picture` zoomed, with the outline of the zoomed `mask` painted in `rgb`."""
    big = zoom(picture).copy()
    big[outline(zoom(np.asarray(mask) > 0))] = rgb
    return big


def draw_input(image: Array) -> Array:
    """The input slice, in [0, 1]."""
    return zoom(grey(image, 0.0, 1.0))


def draw_preprocessed(preprocessed: Array) -> Array:
    """The preprocessed slice, robustly windowed."""
    return zoom(robust_grey(preprocessed))


def draw_probability(probability: Array) -> Array:
    """The tumour-probability map as a heat map."""
    return zoom(heat(probability))


def draw_region(preprocessed: Array, region: Array) -> Array:
    """The extracted region's outline over the preprocessed slice."""
    return overlay(robust_grey(preprocessed), region, REGION_RGB)


def draw_truth(image: Array, tumour_mask: Array) -> Array:
    """The true tumour's outline over the input slice."""
    return overlay(grey(image, 0.0, 1.0), tumour_mask, TRUTH_RGB)


# kind -> (arrays it needs, in argument order; how to draw them as (H, W, 3) uint8)
KINDS: dict[str, tuple[tuple[str, ...], Callable[..., Array]]] = {
    "input": (("images",), draw_input),
    "preprocessed": (("preprocessed",), draw_preprocessed),
    "probability": (("probability",), draw_probability),
    "region": (("preprocessed", "region"), draw_region),
    "truth": (("images", "tumour_mask"), draw_truth),
}
KIND_TITLES = {
    "input": "input slice",
    "preprocessed": "preprocess: output",
    "probability": "extract: tumour probability",
    "region": "extract: region outline",
    "truth": "truth: tumour outline",
}


def encode_png(rgb: Array) -> bytes:
    """An (H, W, 3) uint8 picture as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()
