"""Checkpoints and exported models carry SHA-256 hashes: a bit flip is refused in one line naming
the file, resume falls back to the newest intact checkpoint, and files saved without hashes load
with a one-line warning."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from toy import ToyImages, load_weights, make_toy

from cli_support import assert_one_line_error, run_cli
from medgen.exceptions import InputError
from medgen.models import VAE, VAEConfig, load_model
from medgen.train import NonFiniteLoss, TrainConfig, list_checkpoints, train
from medgen.train.checkpoint import load_checkpoint
from medgen.train.ema import EMA
from medgen.train.rng import capture_rng

CONFIG = TrainConfig(batch_size=8, budget="10steps", checkpoint_every=5, log_every=5)
LONGER = TrainConfig(**{**CONFIG.__dict__, "budget": "15steps"})
LATEST, EARLIER = "checkpoints/step-00000010", "checkpoints/step-00000005"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("integrity") / "run"
    train(make_toy("ema"), ToyImages(), out, CONFIG, progress=False)
    return out


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run trained to 15 steps without a stop."""
    out = tmp_path_factory.mktemp("integrity") / "straight"
    train(make_toy("ema"), ToyImages(), out, LONGER, progress=False)
    return out


def flip(path: Path, count: int = 50) -> None:
    """Invert `count` bytes spread over a safetensors file's tensor data (its header intact)."""
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    for i in range(count):
        data[start + i * (len(data) - start) // count] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_step(path: Path) -> None:
    """A valid state.json that says a step other than the one saved."""
    state = json.loads(path.read_text())
    state["step"] += 1
    path.write_text(json.dumps(state))


def strip_hashes(path: Path) -> None:
    """state.json or model.json as medgen wrote them before it recorded hashes."""
    record = json.loads(path.read_text())
    for key in ("sha256", "state_sha256"):
        record.pop(key, None)
    path.write_text(json.dumps(record))


def copy_run(finished: Path, tmp_path: Path, *, earlier: bool = True) -> Path:
    out = tmp_path / "run"
    skip = [] if earlier else ["step-00000005"]
    shutil.copytree(finished, out, ignore=lambda _, names: [n for n in names if n in skip])
    return out


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


DAMAGES: list[tuple[str, Callable[[Path], None]]] = [
    ("model.safetensors", flip),
    ("ema.safetensors", flip),
    ("optimizer-main.safetensors", flip),
    ("rng.safetensors", flip),
    ("state.json", edit_step),
]


@pytest.mark.parametrize(("name", "damage"), DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_checkpoint_is_refused_in_one_line_naming_the_file(
    finished: Path, tmp_path: Path, name: str, damage: Callable[[Path], None]
) -> None:
    out = copy_run(finished, tmp_path, earlier=False)
    damage(out / LATEST / name)
    with pytest.raises(InputError) as err:
        train(make_toy("ema"), ToyImages(), out, LONGER, resume=True, progress=False)
    assert err.value.what == str(out / LATEST / name)
    assert "SHA-256" in err.value.problem and "\n" not in str(err.value)
    assert [p.name for p in list_checkpoints(out)] == ["step-00000010"]  # nothing moved


def test_load_checkpoint_refuses_a_flipped_file_before_touching_the_model(
    finished: Path, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "step"
    shutil.copytree(finished / LATEST, checkpoint)
    flip(checkpoint / "model.safetensors")
    model = make_toy("ema")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InputError, match=r"does not match the SHA-256 recorded in state\.json"):
        load_checkpoint(
            checkpoint,
            model=model,
            optimizers={"main": torch.optim.AdamW(model.parameters())},
            ema=EMA(model, 0.9),
            rng_like=capture_rng(torch.Generator()),
        )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("name", "damage"), DAMAGES, ids=[d[0] for d in DAMAGES])
def test_resume_falls_back_to_the_previous_intact_checkpoint(
    finished: Path,
    straight: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    damage: Callable[[Path], None],
) -> None:
    out = copy_run(finished, tmp_path)
    damage(out / LATEST / name)
    summary = train(make_toy("ema"), ToyImages(), out, LONGER, resume=True, progress=False)
    [warning] = warnings_of(caplog)
    assert str(out / LATEST / name) in warning and "SHA-256" in warning
    assert "resuming from step-00000005" in warning and "\n" not in warning
    aside = out / "checkpoints" / "step-00000010.corrupt"
    assert (aside / name).read_bytes() != (finished / LATEST / name).read_bytes()  # kept as is
    assert summary["steps"] == 15
    weights = load_weights(out / "model" / "model.safetensors")
    expected = load_weights(straight / "model" / "model.safetensors")
    assert all(torch.equal(weights[k], expected[k]) for k in expected)


def test_after_a_fallback_a_non_finite_loss_names_the_intact_checkpoint(
    finished: Path, tmp_path: Path
) -> None:
    out = copy_run(finished, tmp_path)
    flip(out / LATEST / "model.safetensors")
    toy = make_toy("ema", nan_after=8)  # its call counter resumes at 5
    with pytest.raises(NonFiniteLoss) as err:
        train(toy, ToyImages(), out, LONGER, resume=True, progress=False)
    message = str(err.value)
    assert "non-finite loss at step 8" in message and EARLIER in message
    assert "step-00000010" not in message


def test_a_checkpoint_saved_without_hashes_resumes_with_one_warning(
    finished: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = copy_run(finished, tmp_path)
    strip_hashes(out / LATEST / "state.json")
    summary = train(make_toy("ema"), ToyImages(), out, LONGER, resume=True, progress=False)
    [warning] = warnings_of(caplog)
    assert str(out / LATEST / "state.json") in warning and "records no SHA-256" in warning
    assert "\n" not in warning and summary["steps"] == 15


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """A run folder whose model/ holds a tiny VAE, as `medgen train` exports it."""
    torch.manual_seed(0)
    VAE(VAEConfig(image_size=16, hidden=(8, 16), latent_channels=2)).save(tmp_path / "run/model")
    return tmp_path / "run"


def test_sample_refuses_a_flipped_model_in_one_line(exported: Path, tmp_path: Path) -> None:
    flip(exported / "model" / "model.safetensors")
    result = run_cli("sample", exported, "--n", "2", "--out", tmp_path / "s.png")
    assert_one_line_error(result, str(exported / "model" / "model.safetensors"), "SHA-256")
    assert not (tmp_path / "s.png").exists()


def test_a_model_saved_without_a_hash_samples_with_one_warning(
    exported: Path, tmp_path: Path
) -> None:
    strip_hashes(exported / "model" / "model.json")
    result = run_cli("sample", exported, "--n", "2", "--out", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("medgen: warning: "), result.stderr
    assert "model.json" in warnings[0] and "records no SHA-256" in warnings[0]


def test_load_model_checks_the_hash_of_its_weights(exported: Path) -> None:
    load_model(exported / "model")  # intact: loads
    flip(exported / "model" / "model.safetensors")
    with pytest.raises(InputError, match=r"does not match the SHA-256 recorded in model\.json"):
        load_model(exported / "model")
