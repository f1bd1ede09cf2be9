"""Print the first 12 hex digits of the SHA-256 of the standard data's template, location map and
slice 0 (clean and noisy), to compare the bytes two machines or two numpy dispatch settings
render.

    python experiments/reference/render_digest.py
    NPY_DISABLE_CPU_FEATURES=X86_V3 python experiments/reference/render_digest.py
"""

import hashlib

import numpy as np

from medgen.data.synth import DataConfig
from medgen.data.synth.anatomy import load_anatomy, smoothed_t1
from medgen.data.synth.plan import plan_slices
from medgen.data.synth.render import render_slice


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:12]


cfg = DataConfig()
anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
print("t1", digest(t1), "locations", digest(anatomy.locations))
row = plan_slices(cfg, anatomy).set_index("id").loc[0]
s = render_slice(
    cfg, anatomy, t1, int(row.slice_index), row.location, row.tumour_type, int(row.seed)
)
print("clean", digest(s.clean), "image", digest(s.image))
