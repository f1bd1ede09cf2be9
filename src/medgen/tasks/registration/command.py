"""`medgen register`'s one library entry point: train, then register a split's pairs (scored
against the built-in data's truth) or a user's own pair of slices."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth.truth import is_builtin
from medgen.exceptions import InputError, SettingError
from medgen.fileio import atomic_directory, write_text_atomic
from medgen.tasks.registration.nets import RegistrationNet, warp
from medgen.tasks.registration.own import ddf_path, read_pair, write_nifti
from medgen.tasks.registration.run import (
    MEDGEN,
    Log,
    RegisterSettings,
    register_split,
    train_methods,
)
from medgen.tasks.registration.saved import NETS_FILE, load_nets, save_nets
from medgen.tasks.registration.table import register_table, table_text
from medgen.tasks.registration.train import predict
from medgen.tasks.run import check_split, open_pixel_model, run_folder


def run_register(
    run: Path,
    data: Path,
    s: RegisterSettings,
    *,
    fixed: Path | None = None,
    moving: Path | None = None,
    out: Path | None = None,
    save_to: Path | None = None,
    overwrite: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """Train medgen's registration network on `data`'s training split with `run`'s diffusion
    prior (or load the networks when `run` is a folder `save_to` wrote); register `s.split`'s
    pairs with it and the peers (the table), or `fixed`/`moving`. With `save_to`, the trained
    networks are written there. Every refusal comes before training."""
    if (fixed is None) != (moving is None):
        raise SettingError("fixed/moving", "give both or neither")
    store = open_dataset(data)
    run = run_folder(run, store)
    trained = (run / NETS_FILE).is_file()
    if trained and save_to is not None:
        raise SettingError("save_nets", f"{run} holds trained networks already: nothing to train")
    own = None
    if fixed is not None and moving is not None:
        own = read_pair(fixed, moving, store.size)
    else:
        check_split(s.split)
        if not is_builtin(store):
            raise InputError(data, "has no true displacements (only built-in data has them)")
    target = out if out is not None or own is None else Path("warped.nii.gz")
    if target is not None:
        outputs = [target] if own is None else [target, ddf_path(target)]
        _refuse_existing(outputs, overwrite)
    if save_to is not None:
        _refuse_existing([save_to], overwrite)
    if trained:
        nets = load_nets(run, store.size)
        if MEDGEN not in nets:
            raise InputError(run, f"holds no {MEDGEN!r} network")
    else:
        nets = train(run, store, replace(s, plain=s.plain and own is None), save_to, overwrite, log)
    net = nets[MEDGEN]
    if own is None:
        per_pair = register_split(nets, store, s, log)
        text = table_text(register_table(per_pair, s.seed, s.refine.steps))
        if out is not None:
            with atomic_directory(out, overwrite=overwrite) as tmp:
                per_pair.to_csv(tmp / "per_pair.csv", index=False)
                write_text_atomic(tmp / "table.txt", text + "\n")
        return {"table": text, "out": out}
    f, m = own
    ddf = predict(net, f.unit[None], m.unit[None], s.refine)  # (1, 2, H, W)
    with torch.no_grad():
        image = torch.as_tensor(m.pixels)[None, None]
        warped = warp(image, torch.as_tensor(ddf, dtype=torch.float32))[0, 0].numpy()
    assert target is not None
    write_nifti(warped, f.affine, target)
    write_nifti(np.moveaxis(ddf[0], 0, -1), f.affine, ddf_path(target))  # (H, W, 2) row, col
    return {"out": target, "ddf": ddf_path(target)}


def train(
    run: Path,
    store: StoredDataset,
    s: RegisterSettings,
    save_to: Path | None,
    overwrite: bool,
    log: Log,
) -> dict[str, RegistrationNet]:
    """Train the networks with `run`'s prior; with `save_to`, write them there."""
    nets, record = train_methods(open_pixel_model(run, store), store, s, log)
    if save_to is not None:
        save_nets(
            nets,
            record,
            save_to,
            train=s.train,
            size=store.size,
            train_slices=s.train_slices,
            overwrite=overwrite,
        )
        log(f"wrote the trained networks to {save_to}")
    return nets


def _refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """Refuse, before any training, outputs that exist unless `overwrite`."""
    for path in paths:
        if path.exists() and not overwrite:
            raise InputError(path, "already exists (pass --overwrite to replace it)")
