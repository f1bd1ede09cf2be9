"""Import an image folder with one subfolder per class (PNG, JPG, TIFF), e.g. the common
`glioma/`, `meningioma/`, `pituitary/`, `notumor/` layout; a class is an image's parent folder,
so `Training/glioma/x.png` is of class `glioma`. The class name is written (as `tumour_type`); an
image's `source` is a hash of its path (see `deid`)."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from medgen.data.importers.common import (
    ImportOptions,
    Slices,
    Unit,
    bad_unit,
    check_finite,
    make_slices,
    read_file,
    rgb_to_grey,
    walk,
    with_columns,
)
from medgen.data.importers.deid import source_id
from medgen.exceptions import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
GREY_MODES = ("L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")  # read as they are
# Class folder names (lower case, letters and digits only) that mean "no tumour": label 0.
NO_TUMOUR_CLASSES = frozenset({"notumor", "notumour", "normal", "healthy", "no", "negative"})


def is_image(path: Path) -> bool:
    """Whether `path` has an image suffix this importer reads."""
    return path.name.lower().endswith(IMAGE_SUFFIXES)


def class_label(name: str) -> int:
    """0 for a no-tumour class folder (notumor, no_tumor, normal, healthy, ...), else 1."""
    return 0 if re.sub(r"[^a-z0-9]", "", name.lower()) in NO_TUMOUR_CLASSES else 1


def _decode(path: Path) -> np.ndarray:
    """Decode one 2-D image to float32 grey (colour by BT.601 luma)."""
    with Image.open(path) as img:
        frames = int(getattr(img, "n_frames", 1))
        if frames > 1:
            raise InputError(path, f"is 3-D ({frames} frames); expected one 2-D image")
        img.load()
        if img.mode in GREY_MODES:
            return np.asarray(img, dtype=np.float32)
        return rgb_to_grey(np.asarray(img.convert("RGB")))


def read_image(path: Path) -> np.ndarray:
    """The 2-D image at `path` as a (H, W) float32 array; InputError if it is not one."""
    return check_finite(path, read_file(path, "an image", partial(_decode, path)))


def load_image(path: Path, class_name: str, size: int) -> Slices:
    """One image as one slice, scaled per image, labelled by its class folder."""
    plane = read_image(path)[None]  # (1, H, W)
    slices = make_slices(plane, (1.0, 1.0), size, skip_empty=False)
    return with_columns(slices, label=class_label(class_name), tumour_type=class_name)


def _check_no_empty_folder(root: Path) -> None:
    """Raise an InputError for the first empty folder under `root` (hidden files aside)."""
    for folder, dirs, names in walk(root):
        if folder != root and not dirs and not names:
            raise InputError(folder, "is an empty folder (a class folder needs images)")


def plan(root: Path, files: list[Path], options: ImportOptions) -> list[Unit]:
    """One unit per image under a class folder; other files there are bad input."""
    _check_no_empty_folder(root)
    if not any(is_image(path) and path.parent != root for path in files):
        raise InputError(root, "has no class folders of images (PNG, JPG or TIFF)")
    units: list[Unit] = []
    for path in files:
        rel = path.relative_to(root)
        if path.parent == root:
            if is_image(path):
                units.append(bad_unit(path, root, "is not inside a class folder (SOURCE/<class>/)"))
            continue  # a README or a table next to the class folders is not data
        if not is_image(path):
            units.append(bad_unit(path, root, "is not an image file (expected PNG, JPG or TIFF)"))
            continue
        load = partial(load_image, path, path.parent.name, options.size)
        units.append(Unit(path, source_id("image", rel.as_posix()), rel.as_posix(), load))
    return units
