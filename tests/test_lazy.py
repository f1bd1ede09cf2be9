"""Names imported on first use: they resolve to their home's objects, and the CLI stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import medgen.errors
from medgen.errors.store import ErrorStore
from medgen.lazy import lazy_names


def test_a_lazy_name_is_its_homes_object() -> None:
    assert medgen.errors.ErrorStore is ErrorStore
    getter = lazy_names("pkg", {"medgen.errors.store": ("ErrorStore",)})
    assert getter("ErrorStore") is ErrorStore
    with pytest.raises(AttributeError, match="'pkg' has no attribute 'Nothing'"):
        getter("Nothing")


def test_the_command_line_starts_without_torch() -> None:
    # every command's module is imported to build the parser; torch costs seconds per call
    code = "import sys, medgen.cli; print(sorted({'torch', 'monai'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
