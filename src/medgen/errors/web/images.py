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

Each kind is drawn by `medgen.errors.pictures`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgen.data.store import open_dataset
from medgen.detect.predictions import Predictions
from medgen.errors.pictures import (
    draw_input,
    draw_preprocessed,
    draw_probability,
    draw_region,
    draw_truth,
)
from medgen.exceptions import InputError
from medgen.fileio import encode_png

INTERMEDIATE = ("preprocessed", "probability", "region")  # files in PRED/intermediate/
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
    """Map the arrays of `predictions` (intermediates) and its dataset; missing or damaged ones
    are skipped."""
    images = ExampleImages(row_of={int(i): row for row, i in enumerate(predictions.ids)})
    folder = Path(predictions.path) / "intermediate"
    for name in INTERMEDIATE:
        path = folder / f"{name}.npy"
        if path.is_file():
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError):  # cut short or not an array: drawn as if missing
                continue
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
