"""Load what users bring (an image folder, NIfTI volumes, DICOM series) into medgen's format."""

from __future__ import annotations

from medgen.data.importers.common import Gap, Skipped
from medgen.data.importers.core import KINDS, ImportResult, detect_kind, import_data

__all__ = ["KINDS", "Gap", "ImportResult", "Skipped", "detect_kind", "import_data"]
