"""A checkpoint that is not a valid medgen checkpoint is refused with one line, never unpickled."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from toy import ToyImages, load_weights, make_toy

from medgen.exceptions import InputError
from medgen.train import TrainConfig, latest_checkpoint, train
from medgen.train.checkpoint import load_checkpoint, write_state
from medgen.train.ema import EMA
from medgen.train.rng import capture_rng

CONFIG = TrainConfig(batch_size=8, budget="10steps", checkpoint_every=5, log_every=5)
LATEST = "checkpoints/step-00000010"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    train(make_toy("ema"), ToyImages(), out, CONFIG, progress=False)
    return out


def save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """save_file, padded so the file does not start with byte 0x80 (its header length's low
    byte), which medgen.tensorio would mistake for a pickle and hide the problem tested."""
    pad = ""
    while True:
        save_file(tensors, path, metadata={"pad": pad})
        if not path.read_bytes().startswith(b"\x80"):
            return
        pad += " "


def rename_key(path: Path) -> None:
    tensors = load_weights(path)
    tensors["renamed.weight"] = tensors.pop("first.weight")
    save(tensors, path)


def reshape(path: Path) -> None:
    tensors = load_weights(path)
    tensors["first.weight"] = torch.zeros(3, 3)
    save(tensors, path)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def pickle(path: Path) -> None:
    torch.save(load_weights(path), path)


def drop_field(path: Path) -> None:
    state = json.loads(path.read_text())
    del state["step"]
    path.write_text(json.dumps(state))


def drop_rng_key(path: Path) -> None:
    tensors = load_weights(path)
    del tensors["numpy_keys"]
    save(tensors, path)


def reseal(checkpoint: Path) -> None:
    """Record the damaged files' SHA-256 in state.json (if it still parses), so that the checks
    behind the hashes are what refuses them."""
    try:
        body = json.loads((checkpoint / "state.json").read_text())
    except json.JSONDecodeError:
        return
    if isinstance(body, dict):
        write_state(checkpoint, body)


def moment_shape(path: Path) -> None:
    tensors = load_weights(path)
    tensors["state.0.exp_avg"] = torch.zeros(2)
    save(tensors, path)


CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("model.safetensors", rename_key, "missing 'first.weight'; unexpected 'renamed.weight'"),
    ("model.safetensors", reshape, "tensor 'first.weight' has shape (3, 3), expected (32, 64)"),
    ("model.safetensors", truncate, "is not a valid safetensors file"),
    ("model.safetensors", pickle, "is a pickle or torch.save file"),
    ("ema.safetensors", reshape, "has shape (3, 3)"),
    ("optimizer-main.safetensors", moment_shape, "'state.0.exp_avg' has shape (2,)"),
    ("optimizer-main.safetensors", lambda p: p.unlink(), "no such file"),
    (
        "optimizer-main.json",
        lambda p: p.write_text('{"param_groups": [{"params": 3}]}'),
        "param_groups do not match",
    ),
    ("rng.safetensors", drop_rng_key, "missing 'numpy_keys'"),
    ("state.json", lambda p: p.write_text("{not json"), "is not valid JSON"),
    ("state.json", lambda p: p.write_text("[1, 2]"), "expected a JSON object"),
    ("state.json", drop_field, "field 'step' is missing"),
]


@pytest.mark.parametrize(("name", "damage", "problem"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_checkpoint_is_refused_in_one_line(
    finished: Path, tmp_path: Path, name: str, damage: Callable[[Path], None], problem: str
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished, out, ignore=lambda _, names: [n for n in names if "-00000005" in n])
    damage(out / LATEST / name)  # with no earlier checkpoint to fall back to
    reseal(out / LATEST)
    with pytest.raises(InputError) as err:
        train(make_toy("ema"), ToyImages(), out, CONFIG, resume=True, progress=False)
    message = str(err.value)
    assert err.value.what == str(out / LATEST / name)
    assert problem in message and "\n" not in message


def test_a_refused_checkpoint_leaves_the_model_untouched(finished: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "step"
    shutil.copytree(finished / LATEST, checkpoint)
    drop_rng_key(checkpoint / "rng.safetensors")  # the last file read: all others were fine
    model = make_toy("ema")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(InputError):
        load_checkpoint(
            checkpoint,
            model=model,
            optimizers={"main": optimizer},
            ema=EMA(model, 0.9),
            rng_like=capture_rng(torch.Generator()),
        )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not optimizer.state


def test_a_checkpoint_from_another_world_size_is_refused(finished: Path) -> None:
    model = make_toy("ema")
    with pytest.raises(InputError, match="was trained with 1 processes"):
        load_checkpoint(
            finished / LATEST,
            model=model,
            optimizers={"main": torch.optim.AdamW(model.parameters())},
            ema=None,
            rng_like=capture_rng(torch.Generator()),
            world_size=2,
        )


def test_half_written_checkpoints_are_ignored_and_cleared(finished: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    partial = out / "checkpoints" / ".step-00000015.tmp-4242"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert latest_checkpoint(out) == out / LATEST
    longer = TrainConfig(**{**CONFIG.__dict__, "budget": "15steps"})
    summary = train(make_toy("ema"), ToyImages(), out, longer, resume=True, progress=False)
    assert summary["steps"] == 15 and not partial.exists()
    assert latest_checkpoint(out) == out / "checkpoints" / "step-00000015"
