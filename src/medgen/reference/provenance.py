"""Where a reference model comes from: the machine, the code, the data, and its dev metrics.

A model's dev metrics are its own training objective on the first DEV_SLICES slices of the
dev split (those its training `where` keeps), with the noise of that estimate: the standard
error over DEV_BATCHES batches. The loss's randomness (noise levels, noise, latents) is drawn
from a fixed seed, so that two models are scored on exactly the same draws and a retrained model
is compared with the shipped one on equal terms.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from medgen.data.store import StoredDataset
from medgen.models import GenerativeModel

DEV_SLICES = 512  # dev slices a model's dev metrics average over
DEV_BATCHES = 8  # batches they are split into (the standard error's samples)
DEV_SEED = 0  # seed of the loss's random draws


def machine_name() -> str:
    """The accelerator's name if torch sees one, else the CPU's model and core count."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu}, {os.cpu_count()} cores"


def source_commit(path: Path | None = None) -> str:
    """The git commit of the source tree medgen runs from ("unknown" outside a checkout), with
    "+changes" if the tree differs from it."""
    where = str(path or Path(__file__).parent)
    try:
        commit = subprocess.run(
            ["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def data_record(store: StoredDataset) -> dict[str, Any]:
    """What identifies a dataset: its content hash, kind, size and split counts."""
    manifest = store.manifest
    return {
        "content_hash": manifest.get("content_hash"),
        "kind": manifest.get("kind"),
        "size": manifest.get("size"),
        "splits": manifest.get("splits"),
    }


@torch.no_grad()
def dev_metrics(
    model: GenerativeModel, store: StoredDataset, *, where: str | None, joint: bool
) -> dict[str, float]:
    """The model's loss terms on the dev split (mean, and "<name> se" for each), every phase."""
    from medgen.tasks.augment import joint_training_set
    from medgen.train.recipe import training_set

    dataset = (
        joint_training_set(store, split="dev")
        if joint
        else training_set(store, model, where, split="dev")
    )
    size = len(dataset)  # type: ignore[arg-type]  # both kinds are Sized
    dataset = Subset(dataset, range(min(DEV_SLICES, size)))
    batch_size = max(1, -(-len(dataset) // DEV_BATCHES))
    model = model.eval()
    per_batch: dict[str, list[float]] = {}
    generator = torch.Generator().manual_seed(DEV_SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEV_SEED)
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            for phase in model.phases:
                terms = model.loss(batch, phase, generator)
                for name, value in terms.items():
                    key = name if len(model.phases) == 1 else f"{phase} {name}"
                    per_batch.setdefault(key, []).append(float(value))
    metrics: dict[str, float] = {}
    for name, values in per_batch.items():
        array = np.asarray(values)
        metrics[name] = float(array.mean())
        spread = array.std(ddof=1) / np.sqrt(array.size) if array.size > 1 else float("nan")
        metrics[f"{name} se"] = float(spread)
    return metrics
