"""safetensors on disk: valid files always load, anything else is refused in one line."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from medgen.exceptions import InputError
from medgen.tensorio import load_tensors, save_tensors, state_shapes


def test_files_whose_header_length_starts_with_0x80_load(tmp_path: Path) -> None:
    """The 8-byte header length is a multiple of 8, so 1 valid file in 32 begins with 0x80,
    the first byte of a pickle; such a file must load, not be called a pickle."""
    hits = 0
    for n in range(1, 200):
        path = tmp_path / f"t{n}.safetensors"
        save_tensors(path, {"w" * n: torch.arange(3.0)})
        hits += path.read_bytes()[:1] == b"\x80"
        assert torch.equal(load_tensors(path)["w" * n], torch.arange(3.0))
    assert hits > 0  # the case really occurred


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps({"w": [1.0]}), "pickle"),
        (b"\xff" * 64, "not a valid safetensors"),
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_tensors(path)


def test_torch_save_and_truncation_and_shapes_are_refused(tmp_path: Path) -> None:
    state = {"w": torch.ones(2, 3)}
    torch.save(state, tmp_path / "p.pt")
    with pytest.raises(InputError, match="pickle"):
        load_tensors(tmp_path / "p.pt")
    save_tensors(tmp_path / "ok.safetensors", state)
    data = (tmp_path / "ok.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-4])
    with pytest.raises(InputError, match="not a valid"):
        load_tensors(tmp_path / "cut.safetensors")
    with pytest.raises(InputError, match="shape"):
        load_tensors(tmp_path / "ok.safetensors", {"w": (3, 2)})
    with pytest.raises(InputError, match="missing 'v'; unexpected 'w'"):
        load_tensors(tmp_path / "ok.safetensors", {"v": (2, 3)})
    assert state_shapes(load_tensors(tmp_path / "ok.safetensors", state_shapes(state))) == {
        "w": (2, 3)
    }
