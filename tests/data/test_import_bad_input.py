"""Bad input to `medgen data import`: one clear line naming the file or option, exit code 2, no
traceback, nothing half-written; `--skip-bad` imports the rest and lists what it skipped."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from import_fixtures import (
    blob,
    dicom_slice,
    leftovers,
    make_class_folder,
    write_image,
    write_nifti,
)
from PIL import Image
from pydicom.data import get_testdata_file

from cli_support import assert_one_line_error, run_cli
from medgen.data.importers import import_data
from medgen.data.store import open_dataset
from medgen.exceptions import InputError, SettingError


class Bad(NamedTuple):
    """A bad file made in a source folder, the words its error must contain, its kind, and
    whether its series keeps its other, good slices (with --skip-bad)."""

    path: Path
    problem: str
    kind: str
    partial: bool = False


def cut(path: Path, keep: float = 0.5) -> Path:
    """Truncate a file to `keep` of its length."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def nifti_truncated_gz(src: Path) -> Bad:
    return Bad(
        cut(write_nifti(src / "a.nii.gz", blob((16, 16, 8)))), "cannot be read as NIfTI", "nifti"
    )


def nifti_truncated(src: Path) -> Bad:
    return Bad(
        cut(write_nifti(src / "a.nii", blob((16, 16, 8)))), "cannot be read as NIfTI", "nifti"
    )


def nifti_not_nifti(src: Path) -> Bad:
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.nii.gz").write_text("not a volume")
    return Bad(src / "a.nii.gz", "cannot be read as NIfTI", "nifti")


def nifti_nan(src: Path) -> Bad:
    volume = blob((16, 16, 8))
    volume[3, 4, 5], volume[0, 0, 0] = np.nan, np.inf
    return Bad(write_nifti(src / "a.nii.gz", volume), "NaN or infinite values (2 of", "nifti")


def nifti_2d(src: Path) -> Bad:
    return Bad(write_nifti(src / "a.nii.gz", blob((16, 16))), "is 2-D", "nifti")


def nifti_shape_mismatch(src: Path) -> Bad:
    write_nifti(src / "c/c_t1.nii.gz", blob((16, 16, 8)))
    seg = write_nifti(src / "c/c_seg.nii.gz", np.zeros((16, 16, 6), np.uint8))
    return Bad(seg, "has shape (16, 16, 6) but its image c_t1.nii.gz has (16, 16, 8)", "nifti")


def nifti_unreadable(src: Path) -> Bad:
    """A dangling link (a copy that lost its target): tests run as root, so chmod 000 can't."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.nii.gz").symlink_to(src / "gone.nii.gz")
    return Bad(src / "a.nii.gz", "No such file or directory", "nifti")


def nifti_orphan_segmentation(src: Path) -> Bad:
    seg = write_nifti(src / "x_seg.nii.gz", np.zeros((16, 16, 8), np.uint8))
    return Bad(seg, "segmentation with no image", "nifti")


def nifti_missing_modality(src: Path) -> Bad:
    t2 = write_nifti(src / "c/c_t2.nii.gz", blob((16, 16, 8)))
    return Bad(t2, "case has no t1 image (has t2)", "nifti")


def dicom_truncated(src: Path) -> Bad:
    src.mkdir(parents=True, exist_ok=True)
    path = Path(shutil.copy(get_testdata_file("MR_truncated.dcm"), src / "a.dcm"))
    return Bad(path, "cannot be read as DICOM", "dicom")


def dicom_cut(src: Path) -> Bad:
    path = cut(dicom_slice(src / "a.dcm", blob((32, 32))), keep=0.3)  # inside the header
    return Bad(path, "no pixel data (not an image, or the file is cut short)", "dicom")


def dicom_not_dicom(src: Path) -> Bad:
    src.mkdir(parents=True, exist_ok=True)
    (src / "a.dcm").write_text("not DICOM")
    return Bad(src / "a.dcm", "cannot be read as DICOM", "dicom")


def dicom_no_pixels(src: Path) -> Bad:
    src.mkdir(parents=True, exist_ok=True)
    path = Path(shutil.copy(get_testdata_file("rtplan.dcm"), src / "plan.dcm"))
    return Bad(path, "no pixel data", "dicom")


def dicom_size_mismatch(src: Path) -> Bad:
    dicom_slice(src / "s/a.dcm", blob((32, 32)), position=0.0, series_uid="1.2.9")
    b = dicom_slice(src / "s/b.dcm", blob((16, 16)), position=1.0, series_uid="1.2.9")
    return Bad(b, "has 16×16 pixels but the rest of its series has 32×32", "dicom", True)


def folder_not_image(src: Path) -> Bad:
    (src / "glioma").mkdir(parents=True, exist_ok=True)
    (src / "glioma/notes.txt").write_text("hello")
    return Bad(src / "glioma/notes.txt", "is not an image file", "folder")


def folder_fake_png(src: Path) -> Bad:
    (src / "glioma").mkdir(parents=True, exist_ok=True)
    (src / "glioma/a.png").write_text("not a PNG")
    return Bad(src / "glioma/a.png", "cannot be read as an image", "folder")


def folder_truncated_png(src: Path) -> Bad:
    image = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    return Bad(
        cut(write_image(src / "glioma/a.png", image)), "cannot be read as an image", "folder"
    )


def folder_3d_tiff(src: Path) -> Bad:
    (src / "glioma").mkdir(parents=True, exist_ok=True)
    pages = [Image.fromarray(blob((16, 16)).astype(np.uint8)) for _ in range(3)]
    pages[0].save(src / "glioma/a.tif", save_all=True, append_images=pages[1:])
    return Bad(src / "glioma/a.tif", "is 3-D (3 frames)", "folder")


def folder_inf_tiff(src: Path) -> Bad:
    image = blob((16, 16))
    image[2, 2] = np.inf
    return Bad(write_image(src / "glioma/a.tif", image, mode="F"), "NaN or infinite", "folder")


def folder_image_outside_classes(src: Path) -> Bad:
    image = blob((16, 16)).astype(np.uint8)
    return Bad(write_image(src / "a.png", image), "not inside a class folder", "folder")


BAD: dict[str, Callable[[Path], Bad]] = {
    f.__name__: f
    for f in (
        nifti_truncated_gz,
        nifti_truncated,
        nifti_not_nifti,
        nifti_nan,
        nifti_2d,
        nifti_shape_mismatch,
        nifti_unreadable,
        nifti_orphan_segmentation,
        nifti_missing_modality,
        dicom_truncated,
        dicom_cut,
        dicom_not_dicom,
        dicom_no_pixels,
        dicom_size_mismatch,
        folder_not_image,
        folder_fake_png,
        folder_truncated_png,
        folder_3d_tiff,
        folder_inf_tiff,
        folder_image_outside_classes,
    )
}
CLI_BAD = [
    "nifti_truncated_gz",
    "nifti_nan",
    "nifti_2d",
    "nifti_shape_mismatch",
    "nifti_unreadable",
    "dicom_truncated",
    "folder_not_image",
    "folder_3d_tiff",
]


def add_good(src: Path, kind: str) -> None:
    """A good source of `kind` next to the bad one, sorted after it ("z...")."""
    if kind == "nifti":
        write_nifti(src / "zgood/zgood_t1.nii.gz", blob((16, 16, 8)))
    elif kind == "dicom":
        dicom_slice(src / "zgood/x.dcm", blob((32, 32)), series_uid="1.2.77")
    else:
        make_class_folder(src / "zgood_parent", {"notumor": 1})


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_is_named(tmp_path: Path, name: str) -> None:
    bad = BAD[name](tmp_path / "src")
    add_good(tmp_path / "src", bad.kind)
    with pytest.raises(InputError) as error:
        import_data(tmp_path / "src", tmp_path / "out", size=32)
    assert error.value.what == str(bad.path)
    assert bad.problem in error.value.problem
    assert "\n" not in str(error.value)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("name", sorted(BAD))
def test_skip_bad_imports_the_rest(tmp_path: Path, name: str) -> None:
    bad = BAD[name](tmp_path / "src")
    add_good(tmp_path / "src", bad.kind)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32, skip_bad=True)
    assert [path for path, _ in result.skipped] == [str(bad.path)]
    assert bad.problem in result.skipped[0].reason
    assert result.manifest["imported"] == {"sources": 1 + bad.partial, "skipped": 1}
    add_good(tmp_path / "alone", bad.kind)
    import_data(tmp_path / "alone", tmp_path / "out-alone", size=32)
    good = set(open_dataset(tmp_path / "out-alone").meta["source"])
    sources = set(open_dataset(tmp_path / "out").meta["source"])
    assert good <= sources and len(sources) == 1 + bad.partial


def test_skip_bad_with_nothing_left_is_an_error(tmp_path: Path) -> None:
    nifti_nan(tmp_path / "src")
    nifti_2d(tmp_path / "src/more")
    with pytest.raises(InputError, match=r"has no slices to import \(2 files skipped as bad\)"):
        import_data(tmp_path / "src", tmp_path / "out", skip_bad=True)
    assert leftovers(tmp_path / "out") == []


def test_empty_folder_is_always_an_error(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/.DS_Store").write_text("")
    with pytest.raises(InputError, match="is an empty folder"):
        import_data(tmp_path / "src", tmp_path / "out", skip_bad=True)


def test_empty_class_folder_is_always_an_error(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 1})
    (tmp_path / "src/notumor").mkdir()
    with pytest.raises(InputError) as error:
        import_data(tmp_path / "src", tmp_path / "out", skip_bad=True)
    assert error.value.what == str(tmp_path / "src/notumor")
    assert "empty folder" in error.value.problem


@pytest.mark.parametrize(
    ("source", "problem"),
    [("missing", "does not exist"), ("text", "cannot tell what to import")],
)
def test_missing_or_unrecognised_source(tmp_path: Path, source: str, problem: str) -> None:
    (tmp_path / "text/sub").mkdir(parents=True)
    (tmp_path / "text/sub/readme.txt").write_text("hello")
    with pytest.raises(InputError, match=problem) as error:
        import_data(tmp_path / source, tmp_path / "out")
    assert error.value.what == str(tmp_path / source)


@pytest.mark.parametrize(
    ("options", "option", "problem"),
    [
        ({"size": 48}, "size", "48 is not allowed"),
        ({"splits": (0.8, 0.1)}, "splits", "three fractions"),
        ({"splits": (0.5, 0.5, 0.5)}, "splits", "sum to 1.5"),
        ({"splits": (1.2, -0.1, -0.1)}, "splits", "three fractions >= 0"),
        ({"kind": "png"}, "kind", "'png' is not one of"),
        ({"axis": 3}, "axis", "3 is not 0, 1 or 2"),
        ({"modality": "t9"}, "modality", "'t9' is not one of"),
    ],
)
def test_bad_option(tmp_path: Path, options: dict, option: str, problem: str) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 1})
    with pytest.raises(SettingError, match=problem) as error:
        import_data(tmp_path / "src", tmp_path / "out", **options)
    assert error.value.setting == option


def test_kind_that_finds_nothing(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 1})
    with pytest.raises(InputError, match="has no NIfTI files"):
        import_data(tmp_path / "src", tmp_path / "out", kind="nifti")


def test_existing_output_and_output_over_source(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 1})
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="already exists"):
        import_data(tmp_path / "src", tmp_path / "out")
    with pytest.raises(InputError, match="holds the source"):
        import_data(tmp_path / "src", tmp_path, overwrite=True)
    assert (tmp_path / "src/glioma/img0.png").exists()


def test_interrupt_while_writing_leaves_nothing(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 2, "notumor": 2})

    def interrupt_in_second_pass(done: int, total: int) -> None:
        if done > 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_data(tmp_path / "src", tmp_path / "out", progress=interrupt_in_second_pass)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("name", CLI_BAD)
def test_cli_bad_file(tmp_path: Path, name: str) -> None:
    bad = BAD[name](tmp_path / "src")
    add_good(tmp_path / "src", bad.kind)
    result = run_cli("data", "import", tmp_path / "src", "--out", tmp_path / "out")
    assert_one_line_error(result, str(bad.path), bad.problem)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--size", "48"], "medgen: error: --size: 48 is not allowed"),
        (["--splits", "0.8,0.2"], "medgen: error: --splits: '0.8,0.2' is not three"),
        (["--splits", "0.9,0.9,0.9"], "medgen: error: --splits: fractions"),
    ],
)
def test_cli_bad_option(tmp_path: Path, args: list[str], needle: str) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 1})
    result = run_cli("data", "import", tmp_path / "src", "--out", tmp_path / "out", *args)
    assert_one_line_error(result, needle)
    assert leftovers(tmp_path / "out") == []


def test_cli_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    result = run_cli("data", "import", tmp_path / "src", "--out", tmp_path / "out", "--skip-bad")
    assert_one_line_error(result, str(tmp_path / "src"), "is an empty folder")
    assert leftovers(tmp_path / "out") == []


def test_cli_failed_overwrite_keeps_the_old_dataset(tmp_path: Path) -> None:
    import_data(make_class_folder(tmp_path / "good", {"glioma": 2}), tmp_path / "out", size=32)
    before = open_dataset(tmp_path / "out").manifest["content_hash"]
    bad = nifti_truncated_gz(tmp_path / "bad")
    result = run_cli("data", "import", tmp_path / "bad", "--out", tmp_path / "out", "--overwrite")
    assert_one_line_error(result, str(bad.path))
    assert open_dataset(tmp_path / "out").manifest["content_hash"] == before
    assert leftovers(tmp_path / "out") == ["out"]


def test_cli_skip_bad_prints_what_it_skipped(tmp_path: Path) -> None:
    make_class_folder(tmp_path / "src", {"glioma": 2, "notumor": 1})
    folder_not_image(tmp_path / "src")
    folder_3d_tiff(tmp_path / "src")
    result = run_cli(
        "data", "import", tmp_path / "src", "--out", tmp_path / "out", "--skip-bad", "--size", "32"
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "3 slices" in result.stdout
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"medgen: warning: {tmp_path / 'src/glioma/a.tif'}: is 3-D (3 frames); expected one 2-D "
        "image",
        f"medgen: warning: {tmp_path / 'src/glioma/notes.txt'}: is not an image file (expected "
        "PNG, JPG or TIFF)",
    ]
    assert len(open_dataset(tmp_path / "out")) == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_mode(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "src/a.nii.gz", blob((16, 16, 8)))
    path.chmod(0)
    with pytest.raises(InputError, match="Permission denied"):
        import_data(tmp_path / "src", tmp_path / "out")
