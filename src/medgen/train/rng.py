"""Every random state a training process draws from, as plain tensors (never pickled).

The trainer's own `torch.Generator` drives the model's noise; torch's global CPU (and CUDA)
generators, numpy's and Python's `random` are saved too, since model code may use them (dropout
does). Each state is a 1-D tensor of fixed length, so the processes' states stack into one file.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

RngState = dict[str, Tensor]  # name -> 1-D tensor


def process_seed(seed: int, rank: int) -> int:
    """The seed of process `rank`'s generator: distinct per process, stable across runs."""
    return (seed * 1_000_003 + rank * 7919 + 12345) % (2**63)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch`'s data order (the same in every process)."""
    return (seed * 1_000_003 + epoch * 104_729 + 67890) % (2**63)


def init_seed(seed: int) -> int:
    """The seed of a new model's initial weights: the same in every process, stable across runs."""
    return (seed * 1_000_003 + 24_680) % (2**63)


def seed_globals(seed: int) -> None:
    """Seed the global torch (CPU and every CUDA device), numpy and Python generators."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def seed_all(generator: torch.Generator, seed: int) -> None:
    """Seed `generator` and the global torch, CUDA, numpy and Python generators from `seed`."""
    generator.manual_seed(seed)
    seed_globals(seed)


def capture_rng(generator: torch.Generator) -> RngState:
    """The states of `generator` and of the global torch, numpy and Python generators (and of
    CUDA's on the generator's GPU, when it lives on one)."""
    _, words, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    python_gauss = [float(gauss is not None), gauss or 0.0]  # (has one, value)
    state = {
        "generator": generator.get_state(),
        "torch": torch.get_rng_state(),
        "python": torch.tensor(words, dtype=torch.int64),
        "python_gauss": torch.tensor(python_gauss, dtype=torch.float64),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": torch.tensor([pos, has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor([cached], dtype=torch.float64),
    }
    if generator.device.type == "cuda":  # the same on every process, so the states stack
        state["cuda"] = torch.cuda.get_rng_state(generator.device)
    return state


def restore_rng(
    state: Mapping[str, Tensor], generator: torch.Generator, fallback_seed: int
) -> None:
    """Put back the states `capture_rng` took (shapes already checked by the loader).

    A generator or CUDA state from another kind of device cannot be restored; it is reseeded
    with `fallback_seed` and a warning, since the run can go on, only not bit-identically.
    """
    # Own copies: a row of a stacked tensor is a view at an offset, and torch's set_rng_state
    # mishandles such a view (a segfault in torch 2.13).
    state = {name: t.clone() for name, t in state.items()}
    torch.set_rng_state(state["torch"].to(torch.uint8))
    gauss = state["python_gauss"].tolist()
    words = tuple(int(w) for w in state["python"].tolist())
    random.setstate((3, words, gauss[1] if gauss[0] else None))
    pos, has_gauss = (int(v) for v in state["numpy_pos"].tolist())
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, pos, has_gauss, float(state["numpy_gauss"][0])))
    try:
        generator.set_state(state["generator"].to(torch.uint8))
    except RuntimeError:
        warnings.warn("checkpoint RNG state is from another device; reseeding", stacklevel=2)
        generator.manual_seed(fallback_seed)
    if "cuda" in state and generator.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8), generator.device)


@contextlib.contextmanager
def preserved_global_rng() -> Iterator[None]:
    """Run a block (sampling, monitoring) without moving the global random states."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


__all__ = [
    "RngState",
    "capture_rng",
    "epoch_seed",
    "init_seed",
    "preserved_global_rng",
    "process_seed",
    "restore_rng",
    "seed_all",
    "seed_globals",
]
