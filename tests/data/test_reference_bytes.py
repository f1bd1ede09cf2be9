"""The built-in data render to the very bytes the shipped reference models were trained on.

A reference is used only on data with its content hash (`medgen.reference.zoo.usable`), so a
change of one ulp in a few pixels (a numpy or scipy release that rounds a spline or an
interpolation differently) silently turns every reference off and makes the study train
everything within its budget instead. constraints.txt pins the versions that keep the bytes, and
the renderer's transcendental functions go through the C library (`medgen.data.synth.libm`) so
that numpy's per-CPU kernels cannot move them; this test fails first when something does.
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
# (DataConfig(): the standard profile's data, content hash 24e02daa1849..., the references' data):
# an enhancing malignant, an enhancing benign, a healthy and a non-enhancing malignant tumour.
REFERENCE_SLICES = {
    0: ("0b8205932bbaf8cc", "c55fc4cad0872daf"),
    1: ("42e9ed4fb6fc87a0", "1776b749d7f72a9e"),
    5: ("dbe67910ab5d0244", "c34dc4deaf91c2b2"),
    155: ("2cc2a5d43f693eaa", "d38c8ef1233e3847"),
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
