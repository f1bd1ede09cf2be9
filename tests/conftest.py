"""Shared fixtures: one small built-in dataset per test session (made once, read-only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from medgen.data.synth import DataConfig, make_dataset

SMALL = DataConfig(n_train=300, n_dev=200, n_test=100, seed=7)


@pytest.fixture(scope="session")
def builtin_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 600-slice built-in dataset at 64x64 (tests must not modify it)."""
    out = tmp_path_factory.mktemp("builtin") / "data"
    make_dataset(out, SMALL, workers=2)
    return out


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread for the test, as on a shared machine; the count is restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
