"""The shipped reference models: list them, read their provenance, and hand one out only for the
data it was trained on.

A reference folder (see `medgen.reference.build`) is itself a run: `medgen sample`, `medgen
compare` and the tasks open it as they open a run trained here. What `usable` adds is the check
that matters: a model is evaluated only on data whose content hash is the one it was trained
on, since its numbers on other data would be the numbers of a model that never saw them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medgen.data.store import StoredDataset
from medgen.exceptions import InputError
from medgen.fileio import read_json_object
from medgen.reference.build import PROVENANCE
from medgen.reference.catalog import RECIPES, get_recipe

MODELS_DIR = Path(__file__).parent / "models"


@dataclass(frozen=True)
class Reference:
    """One shipped reference model: its folder and provenance."""

    name: str
    folder: Path
    provenance: dict[str, Any]

    @property
    def data_hash(self) -> str:
        """The content hash of the dataset it was trained on."""
        return str(self.provenance.get("data", {}).get("content_hash", ""))

    @property
    def size_bytes(self) -> int:
        """Bytes of its weights files."""
        return sum(p.stat().st_size for p in self.folder.rglob("*.safetensors"))

    def dev_line(self) -> str:
        """Its first dev metric as "name value ± se" (the loss, for a generative model)."""
        dev = self.provenance.get("dev", {})
        names = sorted(dev, key=lambda name: name != "loss")  # the loss first, where there is one
        for name in names:
            value = dev[name]
            if not name.endswith(" se"):
                se = dev.get(f"{name} se")
                return f"{name} {value:.4g}" + ("" if se is None else f" ± {se:.2g}")
        return "-"

    def mismatch(self, store: StoredDataset) -> str | None:
        """Why it must not be evaluated on `store` (None if the data are its own)."""
        found = store.manifest.get("content_hash")
        if found == self.data_hash:
            return None
        return (
            f"reference {self.name} was trained on data {self.data_hash[:12]}, "
            f"not on {store.root} ({str(found)[:12]})"
        )


def reference_folder(name: str, root: Path | None = None) -> Path:
    """Where reference `name` is (or would be) shipped (under `root`, default MODELS_DIR)."""
    return (root or MODELS_DIR) / get_recipe(name).name


def shipped(root: Path | None = None) -> list[Reference]:
    """Every reference model shipped under `root` (default MODELS_DIR), in catalog order."""
    return [
        load_reference(name, root)
        for name in RECIPES
        if (reference_folder(name, root) / PROVENANCE).is_file()
    ]


def load_reference(name: str, root: Path | None = None) -> Reference:
    """Reference `name` (SettingError if medgen has no such recipe, InputError if it is not
    shipped or its provenance is unreadable)."""
    folder = reference_folder(name, root)
    if not (folder / PROVENANCE).is_file():
        raise InputError(folder, f"reference model {name!r} is not shipped with this medgen")
    provenance = read_json_object(folder / PROVENANCE)
    if not isinstance(provenance, dict) or provenance.get("name") != name:
        raise InputError(folder / PROVENANCE, f"is not the provenance of {name!r}")
    return Reference(name, folder, provenance)


def usable(
    name: str,
    store: StoredDataset,
    log: Callable[[str], None] = print,
    root: Path | None = None,
) -> Reference | None:
    """Reference `name` if it is shipped and was trained on `store`'s data; otherwise None,
    after one line saying why (the caller then trains its own model)."""
    try:
        reference = load_reference(name, root)
    except InputError as err:
        log(f"{err}: training one instead")
        return None
    reason = reference.mismatch(store)
    if reason is not None:
        log(f"{reason}: training one instead")
        return None
    return reference


def require(name: str, store: StoredDataset, root: Path | None = None) -> Reference:
    """Reference `name`, refused with one InputError line unless it was trained on `store`."""
    reference = load_reference(name, root)
    reason = reference.mismatch(store)
    if reason is not None:
        raise InputError(store.root, f"{reason}; evaluate it on its own data or retrain it")
    return reference
