"""The pictures of one example, rendered on the fly as PNG: the slice and each part's output.

Kinds (`KINDS`, an explicit registry; a URL names a kind, never a file):

- `input`: the slice the detector saw (dataset `images`, in [0, 1]), under the page's
  window/level (`Window`, in the same units);
- `preprocessed`: the preprocess part's output (`intermediate/preprocessed.npy`), shown with a
  robust 1-99 percentile window, since it is normalised, not in [0, 1];
- `probability`: the extract part's tumour-probability map (`intermediate/probability.npy`,
  0-255), on a black-red-yellow-white ramp (its colour bar: `views.colour_bar`);
- `region`: the extracted region's outline (`intermediate/region.npy`) in green over the
  preprocessed slice;
- `truth`: the true tumour outline (dataset `tumour_mask`) in magenta over the input slice,
  under the window/level.

The gallery's thumbnail (`ExampleImages.thumbnail`) is the input slice (or the preprocessed one
when the dataset is missing) at about THUMBNAIL_PX, with the detector's region in green and the
true tumour in magenta, outlined after scaling so a one-pixel tumour still shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from medgen.detect.predictions import Predictions
from medgen.errors.pictures import (
    REGION_RGB,
    TRUTH_RGB,
    draw_preprocessed,
    draw_probability,
    draw_region,
    grey,
    outline,
    overlay,
    robust_grey,
    zoom,
)
from medgen.errors.web.sources import dataset_missing, find_dataset
from medgen.fileio import encode_png

INTERMEDIATE = ("preprocessed", "probability", "region")  # files in PRED/intermediate/
DATASET = ("images", "tumour_mask")  # arrays of the dataset folder
THUMBNAIL_PX = 128  # the gallery's thumbnails are scaled up to about this many pixels a side
Array = np.ndarray[Any, Any]


class Window(NamedTuple):
    """A grey window over input intensities (images in [0, 1]): low shows black, high white."""

    low: float = 0.0
    high: float = 1.0


def input_picture(image: Array, window: Window) -> Array:
    """The input slice under `window`."""
    return zoom(grey(image, window.low, window.high))


def truth_picture(image: Array, tumour_mask: Array, window: Window) -> Array:
    """The true tumour's outline over the input slice under `window`."""
    return overlay(grey(image, window.low, window.high), tumour_mask, TRUTH_RGB)


def thumbnail_picture(base: Array, outlines: list[tuple[Array, tuple[int, int, int]]]) -> Array:
    """(H, W, 3) `base` scaled up to about THUMBNAIL_PX, each (mask, colour) outlined on it."""
    k = max(1, round(THUMBNAIL_PX / max(base.shape[:2])))
    big = np.repeat(np.repeat(base, k, axis=0), k, axis=1)
    for mask, rgb in outlines:
        big[outline(np.repeat(np.repeat(np.asarray(mask) > 0, k, axis=0), k, axis=1))] = rgb
    return big


@dataclass
class ExampleImages:
    """The arrays behind the pictures: dataset arrays by id, intermediate ones by CSV row."""

    arrays: dict[str, Array] = field(default_factory=dict)  # name -> (N, H, W), memory-mapped
    row_of: dict[int, int] = field(default_factory=dict)  # example id -> row of intermediates
    n_dataset: int = 0
    missing: dict[str, str] = field(default_factory=dict)  # array name -> why it is not here

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

    def warnings(self) -> list[str]:
        """One line per missing source: which panels it takes away, and why."""
        lines = []
        for reason in dict.fromkeys(self.missing.values()):
            names = [n for n, r in self.missing.items() if r == reason]
            panels = [KIND_TITLES[k] for k, (needs, _) in KINDS.items() if set(needs) & set(names)]
            if panels:
                lines.append(f"not shown: {', '.join(panels)}. {reason}")
        return lines

    def png(self, kind: str, example_id: int, window: Window = Window()) -> bytes | None:
        """The PNG of picture `kind` of `example_id`, or None if the kind or data is missing."""
        if kind not in KINDS:
            return None
        needs, draw = KINDS[kind]
        slices = [self.slice(name, example_id) for name in needs]
        if any(s is None for s in slices):
            return None
        return encode_png(draw(*[s for s in slices if s is not None], window))

    def thumbnail(self, example_id: int, window: Window = Window()) -> bytes | None:
        """The gallery's PNG of `example_id`: slice, region and truth outlines; None if no slice."""
        image = self.slice("images", example_id)
        preprocessed = self.slice("preprocessed", example_id)
        if image is not None:
            base = grey(image, window.low, window.high)
        elif preprocessed is not None:
            base = robust_grey(preprocessed)
        else:
            return None
        outlines = [
            (mask, rgb)
            for mask, rgb in (
                (self.slice("region", example_id), REGION_RGB),
                (self.slice("tumour_mask", example_id), TRUTH_RGB),
            )
            if mask is not None
        ]
        return encode_png(thumbnail_picture(base, outlines))


def load_images(
    predictions: Predictions, project: str | Path, data: str | Path | None = None
) -> ExampleImages:
    """Map the arrays of `predictions` (intermediates) and its dataset (found by `sources`, or
    `data`); what is missing or damaged is skipped and recorded in `missing`."""
    images = ExampleImages(row_of={int(i): row for row, i in enumerate(predictions.ids)})
    folder = Path(predictions.path) / "intermediate"
    for name in INTERMEDIATE:
        path = folder / f"{name}.npy"
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            images.missing[name] = f"{path} does not exist."
            continue
        except (OSError, ValueError):  # cut short or not an array
            images.missing[name] = f"{path} is not a readable array."
            continue
        if array.ndim == 3 and len(array) == len(predictions.table):
            images.arrays[name] = array
        else:
            images.missing[name] = f"{path} does not hold one slice per prediction."
    dataset = find_dataset(predictions, project, data)
    if dataset is None:
        images.missing.update(dict.fromkeys(DATASET, dataset_missing(predictions) + "."))
        return images
    images.n_dataset = len(dataset)
    for name in DATASET:
        if name in dataset.arrays:
            images.arrays[name] = dataset.array(name)
        else:
            images.missing[name] = f"{dataset.root} has no {name!r} array."
    return images


# kind -> (arrays it needs, in argument order; how to draw them and a Window as (H, W, 3) uint8)
KINDS: dict[str, tuple[tuple[str, ...], Callable[..., Array]]] = {
    "input": (("images",), input_picture),
    "preprocessed": (("preprocessed",), lambda preprocessed, _: draw_preprocessed(preprocessed)),
    "probability": (("probability",), lambda probability, _: draw_probability(probability)),
    "region": (("preprocessed", "region"), lambda pre, region, _: draw_region(pre, region)),
    "truth": (("images", "tumour_mask"), truth_picture),
}
KIND_TITLES = {
    "input": "input slice",
    "preprocessed": "preprocess: output",
    "probability": "extract: tumour probability",
    "region": "extract: region outline",
    "truth": "truth: tumour outline",
}
WINDOWED = ("input", "truth")  # the kinds the page's window/level changes
