"""Where medgen's own networks run: $MEDGEN_DEVICE, else a GPU if visible, else the CPU."""

from __future__ import annotations

import pytest
import torch

from medgen.devices import ENV, default_device, device_of
from medgen.exceptions import InputError


def test_default_is_the_gpu_when_one_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "cpu")
    assert default_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["tpu-ish", "cuda:x"])
def test_a_name_that_is_no_device_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(InputError, match=ENV):
        default_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_a_missing_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "cuda")
    with pytest.raises(InputError, match="no CUDA GPU"):
        default_device()


def test_device_of_a_module() -> None:
    assert device_of(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert device_of(torch.nn.ReLU()) == torch.device("cpu")
