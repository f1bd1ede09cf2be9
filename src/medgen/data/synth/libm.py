"""Elementwise math that gives the same bits on every x86-64 CPU: the C library's scalar functions.

numpy picks its kernels by CPU at import: on a CPU with AVX-512, float64 exp and log run numpy's
own AVX-512 code and sin, cos, arctan2 and power run Intel's SVML, which differ from the C
library in the last bit of many results; elsewhere the same ufuncs call the C library. The built-in
data are stored as float32, so those last bits reach the data's bytes (and the content hash the
reference models are tied to) on a fraction of the pixels. The renderer therefore computes its
transcendental functions here, one element at a time through the C library (`math` calls it for
float64; `powf` through ctypes for float32), which has no per-CPU vector kernels. The results
equal numpy's on a CPU without AVX-512, bit for bit. The matrix product likewise avoids BLAS,
whose kernels are chosen by CPU and sum in different orders.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
import math
from collections.abc import Callable

import numpy as np

# The largest x whose exp is finite; math.exp raises OverflowError beyond it, numpy gives inf.
_EXP_MAX = 709.782712893384


def _unary(function: Callable[[float], float], x: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, np.float64).ravel()
    out = np.fromiter(map(function, flat.tolist()), np.float64, count=flat.size)
    return out.reshape(np.shape(x))


def exp(x: np.ndarray) -> np.ndarray:
    """e**x elementwise, float64; inf where it overflows, as numpy gives."""
    x = np.asarray(x, np.float64)
    overflow = x > _EXP_MAX
    out = _unary(math.exp, np.where(overflow, 0.0, x))
    out[overflow] = math.inf
    return out


def cos(x: np.ndarray) -> np.ndarray:
    """cos x elementwise, float64; nan where x is infinite, as numpy gives."""
    x = np.asarray(x, np.float64)
    infinite = np.isinf(x)
    out = _unary(math.cos, np.where(infinite, 0.0, x))
    out[infinite] = math.nan
    return out


def arctan2(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The angle of (x, y) in (-pi, pi], elementwise, float64 (numpy's argument order)."""
    y64, x64 = np.broadcast_arrays(np.asarray(y, np.float64), np.asarray(x, np.float64))
    values = map(math.atan2, y64.ravel().tolist(), x64.ravel().tolist())
    return np.fromiter(values, np.float64, count=y64.size).reshape(y64.shape)


@functools.cache
def _powf() -> Callable[[float, float], float]:
    name = ctypes.util.find_library("m")
    library = ctypes.CDLL(name) if name else ctypes.CDLL(None)
    function = library.powf
    function.restype = ctypes.c_float
    function.argtypes = [ctypes.c_float, ctypes.c_float]
    return function


def power_f32(base: np.ndarray, exponent: float) -> np.ndarray:
    """base**exponent elementwise for a positive exponent, as float32: what numpy's float32
    power gives without SVML (`powf`, with the exponent rounded to float32)."""
    base = np.asarray(base, np.float32)
    if not exponent > 0 or not math.isfinite(exponent):
        raise ValueError(f"power_f32 needs a positive finite exponent, got {exponent}")
    # powf(+-0, y) = +0 and powf(1, y) = 1 for y > 0, so only the other elements are computed
    # (about half of a slice is background).
    out = np.where(base == 0, np.float32(0), base)
    inside = (base != 0) & (base != 1)
    y = float(np.float32(exponent))
    values = map(_powf(), base[inside].tolist(), itertools.repeat(y))
    out[inside] = np.fromiter(values, np.float32, count=int(inside.sum()))
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for 2-D float64 arrays, summed over k in order, without BLAS."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.zeros((a.shape[0], b.shape[1]))
    for k in range(a.shape[1]):
        out = out + a[:, k : k + 1] * b[k]
    return out
