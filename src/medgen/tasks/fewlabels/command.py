"""`medgen segment` as one library call: a diffusion run and a dataset in, the Dice table out."""

from __future__ import annotations

from pathlib import Path

from medgen.data.store import open_dataset
from medgen.exceptions import InputError
from medgen.models import DiffusionModel
from medgen.tasks.adapter import pixel_denoiser
from medgen.tasks.fewlabels.features import decoder_blocks
from medgen.tasks.fewlabels.labels import draw_labelled
from medgen.tasks.fewlabels.table import SegmentSettings, segment_table
from medgen.tasks.run import check_split, run_folder
from medgen.tasks.tables import Table


def open_feature_model(run: str | Path, size: int) -> DiffusionModel:
    """A run's pixel-space diffusion model whose decoder features can be read, checked against
    the data's image size (InputError naming the run otherwise)."""
    from medgen.train.generate import open_run

    model = open_run(run).eval()
    try:
        pixel_denoiser(model)  # refuses other families and latent models, as every task does
        assert isinstance(model, DiffusionModel)
        decoder_blocks(model)
    except ValueError as err:
        raise InputError(run, str(err)) from None
    if model.config.image_size != size:
        raise InputError(run, f"models {model.config.image_size}-pixel images; the data has {size}")
    return model


def run_segment(run: str | Path, data: str | Path, s: SegmentSettings) -> Table:
    """Check the counts against the data, open the run, and measure `segment_table`."""
    store = open_dataset(data)
    check_split(s.split)
    for n in s.counts:  # a count the data cannot give is refused before any work
        draw_labelled(store, n, 1, s.seed)
    model = open_feature_model(run_folder(run, store), store.size)
    return segment_table(model, store, s)
