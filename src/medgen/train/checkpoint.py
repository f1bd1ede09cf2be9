"""Training checkpoints: safetensors for every tensor, JSON for the rest, never a pickle.

    checkpoints/step-00000100/
        model.safetensors          the model's state dict
        ema.safetensors            its exponential moving average (models with `uses_ema`)
        optimizer-<phase>.safetensors / .json   AdamW moments ("state.<param>.<name>") / groups
        rng.safetensors            every process's random states, stacked (world, n)
        state.json                 step, images, seconds, data position, config (+ hash), version,
                                   the SHA-256 of every other file and of its own fields

Each folder is written whole or not at all (`atomic_directory`), so a run killed at any moment
leaves only complete checkpoints. Loading reads and checks every file before it touches the
model, and a file that is missing, truncated, a pickle, of the wrong keys or shapes, or whose
SHA-256 differs from the recorded one is refused with one `InputError` line. A checkpoint saved
before the hashes were recorded loads with a one-line warning. Resuming skips a damaged newest
checkpoint for the newest intact one, and sets the damaged one aside (`step-N.corrupt`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from medgen import __version__
from medgen.exceptions import InputError
from medgen.fileio import (
    atomic_directory,
    check_sha256,
    read_json_object,
    sha256_of,
    write_json_atomic,
)
from medgen.tensorio import check_tensors, load_tensors, save_tensors, state_shapes
from medgen.train.ema import EMA
from medgen.train.rng import RngState, capture_rng

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step-(\d{8,})$")
_PARTIAL = re.compile(r"^\.step-\d{8,}\.(tmp|old)-\d+$")  # left by a process killed mid-write
_ADAM_MOMENTS = ("exp_avg", "exp_avg_sq")
_LENIENT_RNG = ("generator", "cuda")  # device-dependent: checked in restore_rng, not here
STATE = "state.json"
HASHES = "sha256"  # state.json: file name -> SHA-256 of each other file of the checkpoint
STATE_HASH = "state_sha256"  # state.json: SHA-256 of its other fields (canonical JSON)

_log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Where a run stands at a step boundary (state.json, with the run's config)."""

    step: int = 0  # optimizer steps taken (each runs every phase once)
    images: int = 0  # images seen, all processes together
    seconds: float = 0.0  # training wall time, summed over resumed sessions
    epoch: int = 0  # current pass over the data
    batch: int = 0  # batches of `epoch` already consumed
    world_size: int = 1  # processes the run trains with
    pending: dict[str, list[float]] = field(default_factory=dict)  # metric -> [sum, count]


@dataclass
class Checkpoint:
    """A loaded checkpoint's bookkeeping; its tensors are already in the model and optimizers."""

    path: Path
    state: TrainState
    config: dict[str, Any]
    rng: dict[str, Tensor]  # name -> (world_size, n), row r for process r


def checkpoint_dir(out: str | Path, step: int) -> Path:
    """The folder of the checkpoint taken after `step` steps."""
    return Path(out) / CHECKPOINTS / f"step-{step:08d}"


def list_checkpoints(out: str | Path) -> list[Path]:
    """The complete checkpoints of run `out`, oldest first."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete checkpoint of run `out`, or None."""
    found = list_checkpoints(out)
    return found[-1] if found else None


def resume_checkpoint(out: str | Path) -> Path | None:
    """The newest checkpoint of run `out` that `verify_checkpoint` passes (None if it has none).

    Newer damaged ones are set aside as `step-N.corrupt`, each with a one-line warning naming
    the damaged file and the checkpoint resumed instead; if every checkpoint is damaged, the
    newest one's InputError is raised and nothing is moved.
    """
    damaged: list[tuple[Path, InputError]] = []
    for candidate in reversed(list_checkpoints(out)):
        try:
            verify_checkpoint(candidate)
        except InputError as err:
            damaged.append((candidate, err))
            continue
        for directory, problem in damaged:
            aside = _set_aside(directory).name
            _log.warning(
                "medgen: warning: %s; resuming from %s (%s set aside as %s)",
                problem,
                candidate.name,
                directory.name,
                aside,
            )
        return candidate
    if damaged:
        raise damaged[0][1]
    return None


def _set_aside(directory: Path) -> Path:
    """Rename a damaged checkpoint out of the run's list, keeping it for inspection."""
    target = directory.with_name(f"{directory.name}.corrupt")
    n = 1
    while target.exists():
        n += 1
        target = directory.with_name(f"{directory.name}.corrupt-{n}")
    with contextlib.suppress(FileNotFoundError):  # another process of the launch moved it
        os.replace(directory, target)
    return target


def prune_checkpoints(out: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints of run `out`."""
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def remove_partial(out: str | Path) -> None:
    """Delete half-written checkpoint folders left by a killed process."""
    root = Path(out) / CHECKPOINTS
    if root.is_dir():
        for p in root.iterdir():
            if _PARTIAL.match(p.name):
                shutil.rmtree(p, ignore_errors=True)


def save_checkpoint(
    directory: str | Path,
    *,
    model: nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    ema: EMA | None,
    rng: Mapping[str, Tensor],
    state: TrainState,
    config: Mapping[str, Any],
) -> Path:
    """Write one checkpoint folder atomically (replacing one of the same step)."""
    directory = Path(directory)
    with atomic_directory(directory, overwrite=True) as tmp:
        save_tensors(tmp / "model.safetensors", model.state_dict())
        if ema is not None:
            save_tensors(tmp / "ema.safetensors", ema.state_dict())
        for phase, optimizer in optimizers.items():
            tensors, meta = _flatten_optimizer(optimizer.state_dict())
            save_tensors(tmp / f"optimizer-{phase}.safetensors", tensors)
            write_json_atomic(tmp / f"optimizer-{phase}.json", meta)
        save_tensors(tmp / "rng.safetensors", rng)
        body = {
            **asdict(state),
            "medgen_version": __version__,
            "config": dict(config),
            "config_hash": config_hash(config),
        }
        write_state(tmp, body)
    return directory


def write_state(directory: str | Path, body: Mapping[str, Any]) -> None:
    """Write `body` as the state.json of checkpoint `directory`, with the SHA-256 of every other
    file there and of its own fields."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != STATE)
    data = json.loads(json.dumps(dict(body)))  # as it will read back: tuples become lists
    data.pop(STATE_HASH, None)
    data[HASHES] = {p.name: sha256_of(p) for p in files}
    data[STATE_HASH] = _fields_hash(data)
    write_json_atomic(directory / STATE, data)


def verify_checkpoint(directory: str | Path) -> bool:
    """Check state.json and every file it lists against the SHA-256 it records; False, with
    nothing checked, for a checkpoint saved before medgen recorded them."""
    directory = Path(directory)
    path = directory / STATE
    data = read_json_object(path)
    if HASHES not in data and STATE_HASH not in data:
        return False
    recorded = data.get(HASHES)
    if (
        not isinstance(recorded, dict)
        or data.get(STATE_HASH) != _fields_hash(data)
        or not all(isinstance(v, str) and k == Path(k).name for k, v in recorded.items())
    ):
        raise InputError(
            path, "does not match the SHA-256 it records: corrupted or changed since saved"
        )
    for name, digest in recorded.items():
        check_sha256(directory / name, digest, STATE)
    return True


def _fields_hash(data: Mapping[str, Any]) -> str:
    return config_hash({k: v for k, v in data.items() if k != STATE_HASH})


def load_checkpoint(
    directory: str | Path,
    model: nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    ema: EMA | None = None,
    *,
    rng_like: RngState | None = None,
    world_size: int = 1,
) -> Checkpoint:
    """Check every file of checkpoint `directory`, then load it into model, optimizers and EMA.

    `rng_like` is this process's random state (`capture_rng`), the template the saved ones must
    fit; the run must have trained with `world_size` processes (the batch size is per process).
    """
    directory = Path(directory)
    rng_like = capture_rng(torch.Generator()) if rng_like is None else rng_like
    if not verify_checkpoint(directory):
        _log.warning(
            "medgen: warning: %s: records no SHA-256 of its files (saved by an older medgen); "
            "loading it unverified",
            directory / STATE,
        )
    state, config = read_state(directory / STATE)
    if state.world_size != world_size:
        raise InputError(
            directory,
            f"was trained with {state.world_size} processes; resume it with as many "
            f"(this run has {world_size})",
        )
    weights = load_tensors(directory / "model.safetensors", state_shapes(model.state_dict()))
    averages = None
    if ema is not None:
        averages = load_tensors(directory / "ema.safetensors", state_shapes(ema.state_dict()))
    moments = {
        phase: _read_optimizer(directory / f"optimizer-{phase}", optimizer)
        for phase, optimizer in optimizers.items()
    }
    rng = _read_rng(directory / "rng.safetensors", rng_like, state.world_size)

    model.load_state_dict(weights)
    if ema is not None and averages is not None:
        ema.load_state_dict(averages)
    for phase, optimizer in optimizers.items():
        groups = optimizer.state_dict()["param_groups"]  # hyperparameters come from the config
        optimizer.load_state_dict({"state": moments[phase], "param_groups": groups})
    return Checkpoint(path=directory, state=state, config=config, rng=rng)


def config_hash(config: Mapping[str, Any]) -> str:
    """A short fingerprint (SHA-256, 16 hex digits) of a run config or other JSON object."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def read_state(path: Path) -> tuple[TrainState, dict[str, Any]]:
    """The TrainState and run config in a checkpoint's state.json, checked field by field."""
    data = read_json_object(path)
    kinds: dict[str, tuple[type, ...]] = {
        "step": (int,),
        "images": (int,),
        "seconds": (int, float),
        "epoch": (int,),
        "batch": (int,),
        "world_size": (int,),
        "pending": (dict,),
        "config": (dict,),
    }
    for name, kind in kinds.items():
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise InputError(path, f"field {name!r} is missing or not a {kind[0].__name__}")
        if isinstance(value, int) and value < 0:
            raise InputError(path, f"field {name!r} is negative")
    pending = data["pending"]
    if not all(_is_pair(v) for v in pending.values()):
        raise InputError(path, "field 'pending' must map metric names to [sum, count]")
    values = {f.name: data[f.name] for f in fields(TrainState)}
    values["pending"] = {str(k): [float(v[0]), float(v[1])] for k, v in pending.items()}
    return TrainState(**values), data["config"]


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer state dict as tensors ("state.<param>.<name>") and JSON (param groups)."""
    tensors: dict[str, Tensor] = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"optimizer state {name!r} is not a tensor")
            tensors[f"state.{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"]}


def _read_optimizer(stem: Path, optimizer: torch.optim.Optimizer) -> dict[int, dict[str, Tensor]]:
    """AdamW moments for `optimizer` from stem.safetensors/.json, refused unless they fit it."""
    meta_path = stem.with_name(stem.name + ".json")
    groups = read_json_object(meta_path).get("param_groups")
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    if _group_sizes(groups) != sizes:
        raise InputError(meta_path, f"param_groups do not match the model's ({sizes} parameters)")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    path = stem.with_name(stem.name + ".safetensors")
    tensors = load_tensors(path)
    indices = set()
    for key in tensors:
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise InputError(path, f"unexpected tensor {key!r} (expected 'state.<param>.<name>')")
        if int(parts[1]) >= len(params):
            raise InputError(path, f"tensor {key!r} names a parameter the model does not have")
        indices.add(int(parts[1]))
    moments = _ADAM_MOMENTS + (("max_exp_avg_sq",) if optimizer.defaults.get("amsgrad") else ())
    expected = {f"state.{i}.step": () for i in indices}
    for i in indices:
        expected |= {f"state.{i}.{name}": tuple(params[i].shape) for name in moments}
    check_tensors(path, tensors, expected)
    state: dict[int, dict[str, Tensor]] = {i: {} for i in indices}
    for key, tensor in tensors.items():
        _, index, name = key.split(".")
        state[int(index)][name] = tensor
    return state


def _group_sizes(groups: Any) -> list[int] | None:
    """Parameters per group of saved `param_groups`, or None if they are malformed."""
    if not isinstance(groups, list):
        return None
    if not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        return None
    return [len(g["params"]) for g in groups]


def _read_rng(path: Path, like: RngState, world: int) -> dict[str, Tensor]:
    """Stacked random states, each (world, n) with n as in this process's own `like`."""
    tensors = load_tensors(path)
    expected: dict[str, tuple[int, ...]] = {
        k: (world, v.numel()) for k, v in like.items() if k not in _LENIENT_RNG
    }
    for name in _LENIENT_RNG:  # their length depends on the device the run trained on
        if name in tensors and tensors[name].dim() == 2 and tensors[name].shape[0] == world:
            expected[name] = tuple(tensors[name].shape)
    if "generator" not in expected:
        expected["generator"] = (world, like["generator"].numel())
    check_tensors(path, tensors, expected)
    return tensors


__all__ = [
    "CHECKPOINTS",
    "Checkpoint",
    "TrainState",
    "checkpoint_dir",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "prune_checkpoints",
    "read_state",
    "remove_partial",
    "resume_checkpoint",
    "save_checkpoint",
    "verify_checkpoint",
    "write_state",
]
