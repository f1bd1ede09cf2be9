"""A DICOM series with a missing, corrupt, odd-sized or repeated slice: the good slices import,
the gaps are listed, and every file left out is named with its reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from import_fixtures import all_bytes, blob, dicom_slice
from pydicom.uid import generate_uid

from cli_support import run_cli
from medgen.data.importers import Gap, Skipped, import_data
from medgen.data.store import open_dataset
from medgen.exceptions import InputError


def make_series(folder: Path, n: int = 5, uid: str = "1.2.3.50", shape=(32, 32)) -> list[Path]:
    """`n` slices 4 mm apart, named s00.dcm, s01.dcm, ... in position order; slice k has
    intensity ∝ k + 1."""
    base = blob(shape)
    return [
        dicom_slice(
            folder / f"s{k:02d}.dcm",
            base * (k + 1),
            position=4.0 * k,
            instance=k + 1,
            series_uid=uid,
        )
        for k in range(n)
    ]


def corrupt(path: Path) -> Path:
    """Cut the end off a file's pixel data (its header still reads)."""
    data = path.read_bytes()
    path.write_bytes(data[:-500])
    return path


def test_corrupt_slice_is_skipped_alone_and_its_gap_listed(tmp_path: Path) -> None:
    paths = make_series(tmp_path / "src/scan")
    corrupt(paths[2])
    with pytest.raises(InputError) as error:
        import_data(tmp_path / "src", tmp_path / "out", size=32)
    assert error.value.what == str(paths[2])
    result = import_data(tmp_path / "src", tmp_path / "out", size=32, skip_bad=True)
    assert result.n_slices == 4
    assert [path for path, _ in result.skipped] == [str(paths[2])]
    assert "cannot be read as DICOM" in result.skipped[0].reason
    assert result.gaps == [Gap(str(tmp_path / "src/scan"), str(paths[1]), str(paths[3]), 1)]
    assert result.manifest["imported"] == {"sources": 1, "skipped": 1}
    meta = open_dataset(tmp_path / "out").meta
    assert list(meta["source_z"]) == [0, 1, 3, 4]  # slice indices in the full series
    means = np.asarray(open_dataset(tmp_path / "out").array("images")).mean(axis=(1, 2))
    assert np.all(np.diff(means) > 0)


@pytest.mark.parametrize("skip_bad", [False, True])
def test_missing_slices_are_listed_as_gaps(tmp_path: Path, skip_bad: bool) -> None:
    paths = make_series(tmp_path / "src/scan", n=7)
    paths[2].unlink()
    paths[3].unlink()
    paths[5].unlink()
    result = import_data(tmp_path / "src", tmp_path / "out", size=32, skip_bad=skip_bad)
    assert result.n_slices == 4 and result.skipped == []
    series = str(tmp_path / "src/scan")
    assert result.gaps == [
        Gap(series, str(paths[1]), str(paths[4]), 2),
        Gap(series, str(paths[4]), str(paths[6]), 1),
    ]


def test_duplicate_positions_are_reported_and_dropped(tmp_path: Path) -> None:
    paths = make_series(tmp_path / "src/scan", n=4)
    copy = tmp_path / "src/scan/zz-copy.dcm"
    shutil.copy(paths[1], copy)
    ds = pydicom.dcmread(copy)
    ds.SOPInstanceUID = generate_uid()  # a re-sent slice: same place, new instance
    ds.save_as(copy)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    assert result.n_slices == 4 and result.gaps == []
    assert [path for path, _ in result.skipped] == [str(copy)]
    reason = result.skipped[0].reason
    assert "same slice position" in reason and "s01.dcm" in reason
    assert list(open_dataset(tmp_path / "out").meta["source_z"]) == [0, 1, 2, 3]


def test_odd_sized_slice_is_skipped_alone(tmp_path: Path) -> None:
    """The series' size is the one most of its slices have, even when an odd one comes first."""
    paths = make_series(tmp_path / "src/scan", n=4)
    odd = dicom_slice(
        tmp_path / "src/scan/a-odd.dcm", blob((16, 16)), position=-4.0, series_uid="1.2.3.50"
    )
    result = import_data(tmp_path / "src", tmp_path / "out", size=32, skip_bad=True)
    assert result.n_slices == 4 and result.gaps == []
    assert result.skipped == [
        Skipped(str(odd), "has 16×16 pixels but the rest of its series has 32×32")
    ]
    assert len(paths) == 4


def test_every_bad_file_of_a_series_is_named(tmp_path: Path) -> None:
    bad = [corrupt(path) for path in make_series(tmp_path / "src/bad", n=3, uid="1.2.3.51")]
    make_series(tmp_path / "src/good", n=3)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32, skip_bad=True)
    assert result.n_slices == 3
    assert [path for path, _ in result.skipped] == [str(path) for path in bad]
    assert result.manifest["imported"] == {"sources": 1, "skipped": 3}


def test_nothing_left_names_the_files(tmp_path: Path) -> None:
    for path in make_series(tmp_path / "src/bad", n=2):
        corrupt(path)
    with pytest.raises(InputError, match=r"has no slices to import \(2 files skipped as bad\)"):
        import_data(tmp_path / "src", tmp_path / "out", size=32, skip_bad=True)


def test_cli_warns_one_line_per_file_and_gap(tmp_path: Path) -> None:
    paths = make_series(tmp_path / "src/Doe^John", n=6)
    corrupt(paths[1])
    paths[4].unlink()
    result = run_cli(
        "data", "import", tmp_path / "src", "--out", tmp_path / "out", "--skip-bad", "--size", "32"
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "4 slices" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    series = tmp_path / "src/Doe^John"
    assert len(warnings) == 3, result.stderr
    assert warnings[0].startswith(f"medgen: warning: {paths[1]}: cannot be read as DICOM: ")
    assert warnings[1:] == [
        f"medgen: warning: {series}: 1 slice missing between s00.dcm and s02.dcm",
        f"medgen: warning: {series}: 1 slice missing between s03.dcm and s05.dcm",
    ]
    assert b"Doe^John" not in all_bytes(tmp_path / "out")
