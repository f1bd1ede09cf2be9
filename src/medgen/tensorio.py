"""Tensors on disk as safetensors, written atomically and read back without ever unpickling.

A file that is not valid safetensors (a pickle, a truncated file, random bytes) or whose keys
and shapes differ from what the caller expects is refused with one `InputError` line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from medgen.exceptions import InputError
from medgen.fileio import write_bytes_atomic

PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # a pickle protocol >= 2 header; a torch.save zip archive


def save_tensors(path: str | Path, tensors: Mapping[str, Tensor]) -> None:
    """Write `tensors` to `path` as safetensors, atomically (contiguous CPU copies)."""
    plain = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    write_bytes_atomic(path, st_save(plain))


def load_tensors(
    path: str | Path, expected: Mapping[str, tuple[int, ...]] | None = None
) -> dict[str, Tensor]:
    """The tensors in safetensors file `path`; with `expected`, exactly its keys and shapes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, OverflowError) as err:
        # Only now look at the magic bytes: a valid file's 8-byte header length may itself
        # begin with 0x80, so the check would refuse 1 safetensors file in 32 if made first.
        if data.startswith(PICKLE_MAGIC):
            raise InputError(
                path, "is a pickle or torch.save file; medgen reads only safetensors"
            ) from None
        raise InputError(path, f"is not a valid safetensors file ({err})") from None
    if expected is not None:
        check_tensors(path, tensors, expected)
    return tensors


def check_tensors(
    path: str | Path, tensors: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]]
) -> None:
    """Refuse `tensors` unless it has exactly the keys of `expected`, each with its shape."""
    missing = sorted(set(expected) - set(tensors))
    unknown = sorted(set(tensors) - set(expected))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if unknown:
            parts.append(f"unexpected {_names(unknown)}")
        raise InputError(path, f"does not match the model: {'; '.join(parts)}")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != tuple(shape):
            raise InputError(
                path, f"tensor {name!r} has shape {tuple(tensors[name].shape)}, expected {shape}"
            )


def state_shapes(state: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a state dict, the `expected` argument of `load_tensors`."""
    return {name: tuple(t.shape) for name, t in state.items()}


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


__all__ = ["check_tensors", "load_tensors", "save_tensors", "state_shapes"]
