"""The built-in data render to the very bytes the shipped reference models were trained on.

A reference is used only on data with its content hash (`medgen.reference.zoo.usable`), so a
change of one ulp in a few pixels (a numpy or scipy release that rounds a spline or an
interpolation differently) silently turns every reference off and makes the study train
everything within its budget instead. constraints.txt pins the versions that keep the bytes;
this test fails first when something moves them.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from medgen.data.synth import DataConfig
from medgen.data.synth.anatomy import load_anatomy, smoothed_t1
from medgen.data.synth.plan import plan_slices
from medgen.data.synth.render import render_slice

# slice id -> the first 16 hex digits of sha256(clean), sha256(image) in the default data
# (DataConfig(): the standard profile's data, content hash 2f9f1eca..., the references' data)
REFERENCE_SLICES = {
    0: ("e0e4f19c37c7c594", "a14d4f52ce184be2"),
    35: ("f2a2214cf097c624", "4f1aa636fd540e3e"),
    52: ("2b04fe752e360610", "f14e25232fdf1522"),
}


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("slice_id", sorted(REFERENCE_SLICES))
def test_default_data_slices_render_to_the_references_bytes(slice_id: int) -> None:
    cfg = DataConfig()
    anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
    t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
    row = plan_slices(cfg, anatomy).set_index("id").loc[slice_id]
    rendered = render_slice(
        cfg, anatomy, t1, int(row.slice_index), row.location, row.tumour_type, int(row.seed)
    )
    assert (_digest(rendered.clean), _digest(rendered.image)) == REFERENCE_SLICES[slice_id]
