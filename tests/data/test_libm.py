"""The renderer's CPU-independent math: the C library's values, within a few ulps of numpy's
(SVML's own error on a CPU with AVX-512), and rendered bytes that do not move with numpy's CPU
dispatch or OpenBLAS's kernel choice."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from medgen.data.synth import libm

RNG = np.random.default_rng(7)
X = RNG.uniform(-40.0, 40.0, (37, 29))
Y = RNG.uniform(-40.0, 40.0, (37, 29))


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units of the last place (float64 or float32, by `a`'s dtype)."""
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))


def test_unary_functions_are_the_c_librarys_values_and_numpys_to_a_few_ulps() -> None:
    for ours, reference, numpys in (
        (libm.exp, math.exp, np.exp),
        (libm.cos, math.cos, np.cos),
    ):
        got = ours(X)
        assert got.shape == X.shape and got.dtype == np.float64
        assert got.tolist() == [[reference(v) for v in row] for row in X.tolist()]
        assert _ulps(got, numpys(X)).max() <= 4.0


def test_overflow_and_infinities_give_numpys_values_not_exceptions() -> None:
    x = np.array([709.0, 710.0, np.inf, -np.inf, np.nan, -800.0])
    assert libm.exp(x).tolist()[1:4] == [math.inf, math.inf, 0.0]
    assert libm.exp(x)[0] == math.exp(709.0) and np.isnan(libm.exp(x)[4])
    assert libm.exp(x)[5] == 0.0
    assert np.isnan(libm.cos(np.array([np.inf, -np.inf, np.nan]))).all()
    assert libm.exp(np.float64(1.0)).shape == ()


def test_arctan2_takes_numpys_argument_order_and_broadcasts() -> None:
    got = libm.arctan2(Y, X)
    assert got.tolist() == [
        [math.atan2(y, x) for y, x in zip(ys, xs, strict=True)]
        for ys, xs in zip(Y.tolist(), X.tolist(), strict=True)
    ]
    assert _ulps(got, np.arctan2(Y, X)).max() <= 4.0
    assert libm.arctan2(np.array([1.0, -1.0]), 0.0).tolist() == [math.pi / 2, -math.pi / 2]


def test_float32_power_matches_numpys_to_a_few_ulps_with_exact_zeros_and_ones() -> None:
    base = RNG.uniform(0.0, 1.0, 4000).astype(np.float32)
    base[:3] = (0.0, -0.0, 1.0)
    got = libm.power_f32(base, 1.23)
    assert got.dtype == np.float32
    assert _ulps(got, base ** np.float32(1.23)).max() <= 4.0
    assert got[:3].tolist() == [0.0, 0.0, 1.0]
    assert not np.signbit(got[1])  # powf(-0, y) is +0, as numpy gives
    with pytest.raises(ValueError, match="positive"):
        libm.power_f32(base, 0.0)


def test_matmul_sums_in_order_without_blas() -> None:
    a, b = RNG.standard_normal((9, 5)), RNG.standard_normal((5, 7))
    expected = np.zeros((9, 7))
    for i in range(9):
        for j in range(7):
            total = 0.0
            for k in range(5):
                total = total + a[i, k] * b[k, j]
            expected[i, j] = total
    assert np.array_equal(libm.matmul(a, b), expected)
    assert np.allclose(libm.matmul(a, b), a @ b, rtol=1e-13, atol=1e-13)


RENDER = """
import hashlib, numpy as np
from medgen.data.synth import DataConfig
from medgen.data.synth.anatomy import load_anatomy, smoothed_t1
from medgen.data.synth.plan import plan_slices
from medgen.data.synth.render import render_slice
cfg = DataConfig()
anatomy = load_anatomy(cfg.anatomy.min_brain_fraction)
t1 = smoothed_t1(cfg.anatomy.min_brain_fraction, cfg.anatomy.field_of_view_mm / cfg.size)
plan = plan_slices(cfg, anatomy).set_index("id")
digest = hashlib.sha256()
for kind in ("malignant", "benign", "none"):
    row = plan[plan.tumour_type == kind].iloc[0]
    s = render_slice(cfg, anatomy, t1, int(row.slice_index), row.location, kind, int(row.seed))
    for array in (s.image, s.clean, s.tumour, s.oedema):
        digest.update(np.ascontiguousarray(array).tobytes())
print(digest.hexdigest())
"""

# numpy's dispatch targets above the x86-64 baseline (AVX2 and AVX-512 groups) and an OpenBLAS
# kernel for the oldest x86-64 CPUs. On a CPU with AVX-512 this compares numpy's SVML kernels
# with the C library; on any CPU it compares OpenBLAS's kernels.
RESTRICTED = {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"}


def _render_digest(extra_env: dict[str, str]) -> str:
    env = {**os.environ, **extra_env}
    done = subprocess.run(
        [sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_rendered_bytes_do_not_depend_on_numpys_cpu_dispatch_or_the_blas_kernel() -> None:
    default = _render_digest({})
    assert len(default) == 64
    assert _render_digest(RESTRICTED) == default
    assert _render_digest({"OPENBLAS_CORETYPE": "Prescott"}) == default
