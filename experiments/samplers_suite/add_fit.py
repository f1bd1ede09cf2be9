"""Give the shipped diffusion references the data fit that `medgen train` now records.

A diffusion model trained by `medgen train` keeps the Gaussian fit of its first 512 training
images (in its own units: [-1, 1] pixels, or the VAE's scaled latents) and samples from it
(`DiffusionModel.fit_data`). The references were trained before that; this computes the same fit
from the same data and writes it into their model folders, so that `medgen reference retrain`
and the shipped folder agree. The weights are untouched (stored in the dtype they shipped in).

    python experiments/samplers_suite/add_fit.py --data /tmp/std_data
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from medgen.data.store import open_dataset
from medgen.fileio import atomic_directory, read_json_object, write_json_atomic
from medgen.models import DiffusionModel, load_model
from medgen.reference.build import PROVENANCE, half, write_model
from medgen.reference.zoo import reference_folder
from medgen.train.recipe import FIT_AXES, SCALE_EXAMPLES, first_train_images

NAMES = ("pixel_prior", "latent_diffusion", "healthy_prior")


def add_fit(name: str, data: Path) -> None:
    folder = reference_folder(name)
    provenance = read_json_object(folder / PROVENANCE)
    store = open_dataset(data)
    if store.manifest.get("content_hash") != provenance["data"]["content_hash"]:
        raise SystemExit(f"{data}: not the data {name} was trained on")
    model = load_model(folder / "model")
    assert isinstance(model, DiffusionModel)
    if model.config.fit_axes:
        print(f"{name}: already keeps a fit of {model.config.fit_axes} axes")
        return
    fitted = DiffusionModel(replace(model.config, fit_axes=FIT_AXES))
    fitted.load_state_dict(model.state_dict(), strict=False)  # the fit buffers are new
    images = first_train_images(store, SCALE_EXAMPLES)
    with torch.no_grad():
        fitted.fit_data(fitted.encode(images))
    state = fitted.state_dict()
    if provenance.get("dtype") == "float16":
        state = half(state)
    with atomic_directory(folder / "model", overwrite=True) as tmp:
        tmp.rmdir()  # write_model makes the folder
        write_model(fitted, state, tmp)
    config = read_json_object(folder / "config.json")
    config["model"]["fit_axes"] = FIT_AXES
    write_json_atomic(folder / "config.json", config)
    provenance["data_fit"] = {
        "axes": FIT_AXES,
        "examples": len(images),
        "how": "added after training by experiments/samplers_suite/add_fit.py, as "
        "`medgen train` records it (DiffusionModel.fit_data of the first training images)",
    }
    write_json_atomic(folder / PROVENANCE, provenance)
    print(f"{name}: fit of {FIT_AXES} axes from {len(images)} training images")
    print(json.dumps(provenance["data_fit"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the references' data")
    parser.add_argument("--names", default=",".join(NAMES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.names.split(","):
        add_fit(name, args.data)


if __name__ == "__main__":
    main()
