"""De-identification by construction: no source path component, patient name, ID, date or UID
reaches any file `medgen data import` writes, whatever the script or spelling."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from import_fixtures import all_bytes, blob, dicom_slice, write_image, write_nifti

from cli_support import assert_one_line_error, run_cli
from medgen.data.importers import import_data
from medgen.data.importers.deid import normalise
from medgen.data.store import open_dataset
from medgen.exceptions import SettingError

# A patient in three scripts (alphabetic=ideographic=phonetic), with other names, IDs and dates.
PERSON = {
    "SpecificCharacterSet": "ISO_IR 192",
    "PatientName": "Yamada^Taro=山田^太郎=やまだ^たろう",
    "OtherPatientNames": ["Ямада^Таро", "Müller^Jürgen"],
    "PatientID": "JP-40961",
    "PatientBirthDate": "19650304",
    "StudyDate": "20240115",
    "AcquisitionDateTime": "20240116093000",
    "ReferringPhysicianName": "Suzuki^Hanako",
    "AccessionNumber": "ACC778899",
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.7777",
}
SERIES_UIDS = tuple(f"1.2.826.0.1.3680043.8.498.88{k}" for k in range(3))
# Folders named after the patient as users name them: no caret, other scripts, widths, dates.
FOLDERS = ("山田太郎/2024-01-15", "Ямада Таро", "ＹＡＭＡＤＡ/JP-40961 müller_jürgen")
LEAKS = (
    *[part for folder in FOLDERS for part in re.split(r"[/ _]", folder)],
    *("Yamada", "Taro", "山田", "太郎", "やまだ", "たろう", "Ямада", "Таро", "Müller", "Jürgen"),
    *("Suzuki", "Hanako", "JP-40961", "ACC778899", "19650304", "1965-03-04", "20240115"),
    *("20240116", *PERSON["StudyInstanceUID"].split(".")[-2:], *SERIES_UIDS),
)
SOURCE = re.compile(r"^(series|case|image)-[0-9a-f]{16}$")


def make_patient_series(src: Path) -> None:
    """Three 3-slice series of one patient, each under a folder named after the patient."""
    for folder, uid in zip(FOLDERS, SERIES_UIDS, strict=True):
        for k in range(3):
            dicom_slice(
                src / folder / f"{k}.dcm",
                blob((32, 32)) * (k + 1),
                position=2.0 * k,
                instance=k + 1,
                series_uid=uid,
                patient=PERSON,
            )


def leaked(out: Path) -> list[str]:
    """The LEAKS found in any file under `out`, compared after NFKC and case folding."""
    text = unicodedata.normalize("NFKC", all_bytes(out).decode("utf-8", "replace")).casefold()
    return [s for s in LEAKS if unicodedata.normalize("NFKC", s).casefold() in text]


def test_no_identifier_reaches_any_written_file(tmp_path: Path) -> None:
    make_patient_series(tmp_path / "src")
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    meta = open_dataset(tmp_path / "out").meta
    assert result.n_slices == 9 and meta["source"].nunique() == 3
    assert all(SOURCE.match(source) for source in meta["source"]), set(meta["source"])
    assert leaked(tmp_path / "out") == []
    assert meta["split"].nunique() == 1  # one patient, one split


def test_nifti_and_image_sources_hold_no_path_component(tmp_path: Path) -> None:
    """A case folder or image file named after the patient becomes a hash; a class folder's name
    stays, as the label it is."""
    write_nifti(tmp_path / "nii/山田太郎/Yamada_Taro_t1.nii.gz", blob((16, 16, 8)))
    write_image(
        tmp_path / "png/glioma/ＹＡＭＡＤＡ 2024-01-15.png", blob((16, 16)).astype(np.uint8)
    )
    for kind in ("nii", "png"):
        import_data(tmp_path / kind, tmp_path / f"out-{kind}", size=32)
        meta = open_dataset(tmp_path / f"out-{kind}").meta
        assert all(SOURCE.match(source) for source in meta["source"]), set(meta["source"])
        assert leaked(tmp_path / f"out-{kind}") == []
    assert set(open_dataset(tmp_path / "out-png").meta["tumour_type"]) == {"glioma"}


def test_sources_are_stable_across_roots_and_runs(tmp_path: Path) -> None:
    make_patient_series(tmp_path / "a/src")
    shutil.copytree(tmp_path / "a/src", tmp_path / "b/elsewhere")
    import_data(tmp_path / "a/src", tmp_path / "out-a", size=32)
    import_data(tmp_path / "b/elsewhere", tmp_path / "out-b", size=32, seed=5)
    sources_a = open_dataset(tmp_path / "out-a").meta["source"]
    assert sources_a.equals(open_dataset(tmp_path / "out-b").meta["source"])
    assert all(SOURCE.match(source) for source in sources_a), set(sources_a)


def test_case_id_prefixes_every_source(tmp_path: Path) -> None:
    make_patient_series(tmp_path / "src")
    import_data(tmp_path / "src", tmp_path / "out", size=32, case_id="site3-007")
    sources = open_dataset(tmp_path / "out").meta["source"]
    assert all(s.startswith("site3-007/") and SOURCE.match(s[10:]) for s in sources), set(sources)


@pytest.mark.parametrize(
    "case_id",
    [
        "山田太郎",  # the ideographic name without its caret
        "たろう-01",  # the phonetic given name
        "ＹＡＭＡＤＡ",  # full-width Latin letters
        "ямада",  # OtherPatientNames, lower case Cyrillic
        "muller_2",  # OtherPatientNames' Müller, without the umlaut
        "Suzuki",  # ReferringPhysicianName: every PN field counts
        "jp40961",
        "1965-03-04",
        "20240115",
        "20240116",  # the date of a DT value
        "ACC778899",
        "1.2.826.0.1.3680043.8.498.7777",
    ],
)
def test_case_id_holding_an_identifier_is_refused(tmp_path: Path, case_id: str) -> None:
    make_patient_series(tmp_path / "src")
    with pytest.raises(SettingError) as error:
        import_data(tmp_path / "src", tmp_path / "out", size=32, case_id=case_id)
    assert error.value.setting == "case_id"
    assert "patient identifier" in error.value.problem
    assert normalise(case_id) not in normalise(error.value.problem)


@pytest.mark.parametrize("case_id", ["", "a/b", "../x", "x" * 65, "two words"])
def test_case_id_must_be_a_plain_code(tmp_path: Path, case_id: str) -> None:
    make_patient_series(tmp_path / "src")
    with pytest.raises(SettingError) as error:
        import_data(tmp_path / "src", tmp_path / "out", size=32, case_id=case_id)
    assert error.value.setting == "case_id"


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("Doe^John", "doe_john"),
        ("山田^太郎", "山田太郎"),
        ("ＹＡＭＡＤＡ", "yamada"),
        ("Müller^Jürgen", "MULLER JURGEN"),
        ("Straße", "STRASSE"),
        ("1965-03-04", "19650304"),
    ],
)
def test_normalise_matches_spellings_of_one_name(text: str, same_as: str) -> None:
    assert normalise(text) == normalise(same_as) != ""


def test_cli_case_id(tmp_path: Path) -> None:
    make_patient_series(tmp_path / "src")
    args = ("data", "import", tmp_path / "src", "--size", "32", "--case-id")
    result = run_cli(*args, "site3", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert set(open_dataset(tmp_path / "out").meta["source"].str[:6]) == {"site3/"}
    result = run_cli(*args, "山田太郎", "--out", tmp_path / "out2")
    line = assert_one_line_error(result, "--case-id", "patient identifier")
    assert "山田" not in line
    assert not (tmp_path / "out2").exists()
