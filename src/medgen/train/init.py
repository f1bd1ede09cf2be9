"""`medgen train --init`: start a run from a trained model's weights (fine-tuning).

The new model is the trained one's: its network, noise scales, data fit and (for a latent model)
its VAE, with only the conditioning taken from --cond. Every tensor is copied; label tables the
trained model lacks (new or re-coded labels) start at zero, and since the label embedding is
added to the noise embedding, the model at step 0 is exactly the trained one for every label.
Why: a class-conditional model fine-tuned from the shipped pixel prior learns what its labels
mean far sooner than one trained from scratch (experiments/classification/NOTES.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from medgen.data.conditions import condition_names, condition_vocab
from medgen.data.store import StoredDataset
from medgen.exceptions import InputError, SettingError
from medgen.models import GenerativeModel
from medgen.models.common import conditioning_of
from medgen.models.io import build_model

LABEL_TABLES = "label_emb."  # parameter names of the label embeddings (UNet, GAN)


def open_init(init: str | Path) -> GenerativeModel:
    """The trained model in `init`: a run folder or a saved model folder."""
    from medgen.train.generate import open_run

    if not Path(init).exists():
        raise InputError(init, "no such run folder")
    return open_run(init)


def initial_model(
    init: str | Path,
    family: str,
    store: StoredDataset,
    overrides: dict[str, Any],
    cond: str | None,
) -> GenerativeModel:
    """A `family` model for `store` that starts from the weights of the trained model in run
    or model folder `init`."""
    source = open_init(init)
    if source.family != family:
        raise InputError(
            init, f"holds a {source.family} model; cannot start a {family} run from it"
        )
    settings = {**source.config_dict(), **overrides}
    size = int(store.array("images").shape[-1])
    if settings.get("image_size") != size:
        raise InputError(
            init, f"models {settings.get('image_size')}-pixel images; the data are {size} pixels"
        )
    if cond:
        try:
            names = condition_names(cond)
        except ValueError as err:
            raise SettingError("cond", str(err)) from None
        settings["conditioning"] = {
            **settings.get("conditioning", {}),
            "names": names,
            "vocab": condition_vocab(store.split("train"), names),
        }
    model = build_model({"family": family, "config": settings}, init)
    same_labels = conditioning_of(model) == conditioning_of(source)
    copy_weights(source, model, keep_labels=same_labels, where=init)
    return model


@torch.no_grad()
def copy_weights(
    source: torch.nn.Module, target: torch.nn.Module, *, keep_labels: bool, where: str | Path
) -> None:
    """Copy every tensor of `source` into `target`, whose names and shapes must match; label
    tables are copied only with `keep_labels` (the same labels, coded the same way), otherwise
    zeroed. InputError names the first tensor that does not fit."""
    have = source.state_dict()
    state = target.state_dict()  # shares storage with target's tensors
    for name, tensor in state.items():
        if LABEL_TABLES in name and not keep_labels:
            tensor.zero_()
        elif name not in have:
            raise InputError(where, f"has no tensor {name!r}: its network differs from this run's")
        elif have[name].shape != tensor.shape:
            raise InputError(
                where,
                f"tensor {name!r} is {tuple(have[name].shape)}, this run's is "
                f"{tuple(tensor.shape)}: a [model] setting changes the network",
            )
        else:
            tensor.copy_(have[name])
    unused = [n for n in have if n not in state and LABEL_TABLES not in n]
    if unused:
        raise InputError(where, f"tensor {unused[0]!r} has no place in this run's network")


__all__ = ["copy_weights", "initial_model", "open_init"]
