"""`medgen data import` of an image folder with one subfolder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from import_fixtures import blob, make_class_folder, write_image

from medgen.data.importers import import_data
from medgen.data.importers.deid import source_id
from medgen.data.importers.folder import class_label
from medgen.data.store import open_dataset

CLASSES = {"glioma": 3, "meningioma": 2, "pituitary": 2, "notumor": 3}


def test_class_folders_become_labelled_slices(tmp_path: Path) -> None:
    source = make_class_folder(tmp_path / "src", CLASSES)
    result = import_data(source, tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    assert result.n_slices == len(data) == sum(CLASSES.values())
    assert sorted(data.arrays) == ["brain_mask", "images"]
    images = np.asarray(data.array("images"))
    assert images.shape == (10, 32, 32) and images.dtype == np.float32
    assert images.min() >= 0.0 and 0.9 < images.max() <= 1.0
    np.testing.assert_array_equal(data.array("brain_mask"), images > 0.02)
    meta = data.meta.set_index("source")
    assert meta.loc[source_id("image", "glioma/img0.png"), "label"] == 1
    assert meta.loc[source_id("image", "notumor/img2.png"), "label"] == 0
    assert meta.loc[source_id("image", "pituitary/img1.png"), "tumour_type"] == "pituitary"
    assert set(data.meta["source_z"]) == {0.0}
    assert set(data.meta["split"]) <= {"train", "dev", "test"}
    assert data.manifest["kind"] == "import-folder" and result.skipped == []


@pytest.mark.parametrize(
    ("name", "label"),
    [
        *[("notumor", 0), ("no_tumor", 0), ("No Tumour", 0), ("normal", 0), ("healthy", 0)],
        *[("no", 0), ("glioma", 1), ("yes", 1), ("meningioma", 1)],
    ],
)
def test_class_label(name: str, label: int) -> None:
    assert class_label(name) == label


def test_nested_layout_and_formats(tmp_path: Path) -> None:
    """Training/<class>/ works (the class is the parent folder); JPG, TIFF and 16-bit read."""
    image = blob((30, 30))
    write_image(tmp_path / "src/Training/glioma/a.jpg", image.clip(0, 255).astype(np.uint8))
    write_image(tmp_path / "src/Training/notumor/b.tif", (image * 100).astype(np.uint16))
    write_image(tmp_path / "src/Testing/notumor/c.TIFF", image.astype(np.float32), mode="F")
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    meta = open_dataset(tmp_path / "out").meta.set_index("source")
    assert meta.loc[source_id("image", "Training/glioma/a.jpg"), "tumour_type"] == "glioma"
    assert meta.loc[source_id("image", "Testing/notumor/c.TIFF"), "label"] == 0


def test_rgb_is_converted_to_grey(tmp_path: Path) -> None:
    grey = blob((32, 32)).clip(0, 255).astype(np.uint8)
    write_image(tmp_path / "src/a/grey.png", grey)
    write_image(tmp_path / "src/a/rgb.png", np.stack([grey] * 3, axis=-1))
    write_image(tmp_path / "src/a/rgba.png", np.stack([grey] * 3 + [np.full_like(grey, 255)], -1))
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    images = dict(zip(data.meta["source"], data.array("images"), strict=True))
    grey, rgb, rgba = (
        images[source_id("image", f"a/{name}.png")] for name in ("grey", "rgb", "rgba")
    )
    np.testing.assert_allclose(rgb, grey, atol=1e-2)
    np.testing.assert_allclose(rgba, grey, atol=1e-2)


def test_aspect_is_kept_by_padding(tmp_path: Path) -> None:
    """A 60 × 20 image becomes 32 × 11 (20 / 60 of 32 rows), zero-padded above and below."""
    pixels = np.random.default_rng(0).integers(100, 200, (20, 60)).astype(np.uint8)
    write_image(tmp_path / "src/a/wide.png", pixels)
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    image = np.asarray(open_dataset(tmp_path / "out").array("images")[0])
    filled_rows = np.flatnonzero(image.max(axis=1) > 0)
    np.testing.assert_array_equal(filled_rows, np.arange(10, 21))  # centred
    assert image[:, 0].max() > 0 and image[:, -1].max() > 0  # the width is filled


def test_splits_are_deterministic_per_seed(tmp_path: Path) -> None:
    source = make_class_folder(tmp_path / "src", {"glioma": 20, "notumor": 20})
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        import_data(source, tmp_path / name, seed=seed, size=32)
        runs[name] = open_dataset(tmp_path / name).meta.set_index("source")["split"]
    assert runs["a"].equals(runs["b"])
    assert not runs["a"].equals(runs["c"])
    assert runs["a"].value_counts().to_dict() == {"train": 32, "dev": 4, "test": 4}
