"""De-identification by construction: what an import writes about where a slice came from.

No source path component is ever written. A unit's `source` is `<kind>-<hash>`, a stable hash of
its path relative to the import root, optionally under a code the user chooses (`case_id`). That
code is the one free text an import writes, so it is checked against every patient identifier in
the DICOM headers read: all person names (PatientName, OtherPatientNames, physicians, ...) in
every script and component, patient and accession IDs, dates and instance UIDs, compared after
Unicode normalisation (`normalise`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from pydicom.multival import MultiValue

from medgen.exceptions import SettingError

HASH_CHARS = 16  # hex digits of a source's hash (64 bits: no collision among millions)
CASE_ID = re.compile(r"\w[\w.-]{0,63}")  # letters (any script), digits, _ . -; no path parts
ID_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "AccessionNumber",
        "StudyID",
        "MedicalRecordLocator",
        "PatientAddress",
        "PatientTelephoneNumbers",
    }
)
ID_VRS = frozenset({"PN", "DA", "DT", "UI"})  # person names, dates, date-times, UIDs
STANDARD_UID_ROOT = "1.2.840.10008."  # UIDs the DICOM standard defines: not identifiers
SHORTEST = 3  # shorter identifiers (initials, "Li") must match a whole word, not a substring


def source_id(kind: str, rel: str) -> str:
    """`<kind>-<hash>` of a relative path (NFC first, so one tree hashes alike everywhere)."""
    text = unicodedata.normalize("NFC", rel).encode("utf-8")
    return f"{kind}-{hashlib.sha256(text).hexdigest()[:HASH_CHARS]}"


def normalise(text: str) -> str:
    """`text` reduced for matching spellings of one identifier: compatibility-decomposed (NFKD:
    full-width ＡＢ to AB, ü to u and a mark), case-folded, letters and digits (any script) only;
    so "Müller^Jürgen" matches "MULLER JURGEN" and "山田^太郎" matches "山田太郎"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text).casefold() if ch.isalnum())


def _texts(vr: str, value: str) -> list[str]:
    """A header value and the parts of it that identify on their own: each component and group
    of a person name, the date of a date-time."""
    if vr == "PN":
        return [value, *value.split("="), *re.split(r"[\^=]", value)]
    if vr == "DT":
        return [value, value[:8]]
    return [value]


def identifiers(ds: Any) -> frozenset[str]:
    """Every patient identifier in a DICOM header (sequences included), normalised."""
    texts: list[str] = []
    for elem in ds.iterall():
        if elem.VR not in ID_VRS and elem.keyword not in ID_KEYWORDS:
            continue
        values = elem.value if isinstance(elem.value, MultiValue | list) else [elem.value]
        for value in values:
            text = str(value or "")
            if not (elem.VR == "UI" and text.startswith(STANDARD_UID_ROOT)):
                texts += _texts(elem.VR, text)
    return frozenset(n for n in map(normalise, texts) if len(n) >= 2)


def check_case_id(case_id: str | None) -> str | None:
    """`case_id` if it is a plain code (SettingError naming "case_id" otherwise)."""
    if case_id is not None and not CASE_ID.fullmatch(case_id):
        raise SettingError(
            "case_id",
            f"{case_id!r} is not a code of 1-64 letters, digits, '_', '.' or '-' (no spaces or /)",
        )
    return case_id


def check_no_identifier(case_id: str | None, found: Iterable[frozenset[str]]) -> None:
    """Refuse a `case_id` that holds any of the `found` identifiers, without repeating it."""
    if case_id is None:
        return
    text = normalise(case_id)
    words = {normalise(word) for word in re.split(r"[\W_]+", case_id)}
    for ident in frozenset().union(*found):
        if ident in text if len(ident) >= SHORTEST else ident in words:
            raise SettingError(
                "case_id",
                "holds a patient identifier (a name, ID, date or UID from the DICOM headers); "
                "choose a code that does not",
            )
