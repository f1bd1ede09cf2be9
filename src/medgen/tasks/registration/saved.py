"""Trained registration networks on disk, so that they are trained once and used many times
(the study registers with the shipped reference instead of retraining):

FOLDER/nets.json                  the network config, the training recipe, and per network the
                                  steps and seconds it trained, with its weights' SHA-256
FOLDER/<key>.safetensors          one file per network (medgen's and its raw-image twin)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from medgen.exceptions import InputError
from medgen.fileio import atomic_directory, check_sha256, read_json_object, sha256_of
from medgen.tasks.registration.nets import NetConfig, RegistrationNet
from medgen.tasks.registration.train import TrainSettings
from medgen.tensorio import load_tensors, save_tensors

NETS_FILE = "nets.json"
FORMAT = "medgen-registration-nets/1"


def file_key(method: str) -> str:
    """A file name for a method's network: its first word ("medgen", "voxelmorph")."""
    return method.split()[0]


def save_nets(
    nets: dict[str, RegistrationNet],
    record: dict[str, dict[str, float]],
    folder: str | Path,
    *,
    train: TrainSettings,
    size: int,
    train_slices: int,
    overwrite: bool = False,
) -> Path:
    """Write `nets` (method -> network) and what trained them into `folder`, atomically."""
    folder = Path(folder)
    entries: dict[str, Any] = {}
    with atomic_directory(folder, overwrite=overwrite) as tmp:
        for method, net in nets.items():
            name = f"{file_key(method)}.safetensors"
            save_tensors(tmp / name, net.state_dict())
            entries[method] = {"file": name, "sha256": sha256_of(tmp / name), **record[method]}
        info = {
            "format": FORMAT,
            "size": size,
            "train_slices": train_slices,
            "net": asdict(train.net),
            "train": {k: v for k, v in asdict(train).items() if k != "net"},
            "nets": entries,
        }
        (tmp / NETS_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return folder


def read_info(folder: str | Path) -> dict[str, Any]:
    """nets.json of `folder` (InputError naming it if it is not a folder of trained networks)."""
    path = Path(folder) / NETS_FILE
    if not path.is_file():
        raise InputError(folder, f"has no {NETS_FILE}: not a folder of trained networks")
    info = read_json_object(path)
    if info.get("format") != FORMAT or not isinstance(info.get("nets"), dict):
        raise InputError(path, f"is not a {FORMAT} file")
    return info


def load_nets(folder: str | Path, size: int) -> dict[str, RegistrationNet]:
    """The networks saved in `folder` by `save_nets`, in eval mode, refused with one line if they
    were trained on images of another size than `size` or their weights do not match."""
    folder = Path(folder)
    info = read_info(folder)
    if info.get("size") != size:
        raise InputError(
            folder, f"networks trained on {info.get('size')} px slices, the data's are {size} px"
        )
    try:
        net_cfg = info["net"]
        cfg = NetConfig(**{**net_cfg, "channels": tuple(net_cfg["channels"])})
        files = {m: (str(e["file"]), str(e["sha256"])) for m, e in info["nets"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(folder / NETS_FILE, f"is malformed ({err!r})") from None
    nets = {}
    for method, (name, digest) in files.items():
        path = folder / Path(name).name  # a bare file name: nothing outside the folder
        check_sha256(path, digest, folder / NETS_FILE)
        net = RegistrationNet(cfg)
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        net.load_state_dict(load_tensors(path, expected))
        nets[method] = net.eval()
    return nets


__all__ = ["NETS_FILE", "load_nets", "read_info", "save_nets"]
