"""The checks every config shares: finite numbers, ranges, whole numbers, seeds, worker counts
and choices, each raising one SettingError that names the setting.

Configs call these from `__post_init__`, and `medgen.config.from_dict` refuses non-finite
numbers in every float field, so a bad value reads the same from a config file, the command
line or a library call. Every range check asks for a finite number first: NaN compares false
with everything, so `if not low < x < high` alone lets it through.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

from medgen.exceptions import SettingError

SEED_MAX = 2**32 - 1  # numpy's legacy seed range; every generator medgen seeds accepts it
_SHOWN = 40  # characters of a refused value quoted in a message


def shown(value: object) -> str:
    """`repr(value)`, cut short, for a one-line message (a huge int has thousands of digits)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


def finite(name: str, value: object) -> float:
    """`value` as a float if it is a finite real number (a bool, a string, NaN or inf is not)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise SettingError(name, f"expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SettingError(name, f"expected a finite number, got {shown(value)}")
    return number


def at_least(name: str, value: object, low: float = 0.0) -> float:
    """A finite number >= low."""
    number = finite(name, value)
    if number < low:
        raise SettingError(name, f"must be {low:g} or more, got {number:g}")
    return number


def positive(name: str, value: object) -> float:
    """A finite number > 0."""
    number = finite(name, value)
    if number <= 0:
        raise SettingError(name, f"must be positive, got {number:g}")
    return number


def in_range(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """A finite number in [low, high]; `open_low` / `open_high` leave out that end."""
    number = finite(name, value)
    above = number > low if open_low else number >= low
    below = number < high if open_high else number <= high
    if not (above and below):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise SettingError(name, f"{number:g} is outside {interval}")
    return number


def whole(name: str, value: object, low: int = 0, high: int | None = None) -> int:
    """A whole number (not a bool) in [low, high] (no upper end when `high` is None)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise SettingError(name, f"expected a whole number, got {shown(value)}")
    number = int(value)
    if number < low:
        raise SettingError(name, f"must be at least {low}, got {shown(number)}")
    if high is not None and number > high:
        raise SettingError(name, f"must be at most {high}, got {shown(number)}")
    return number


def flag(name: str, value: object) -> bool:
    """A bool (1, 0 and the text "yes" are not)."""
    if not isinstance(value, bool):
        raise SettingError(name, f"expected true or false, got {shown(value)}")
    return value


def optional_whole(name: str, value: object, low: int = 0) -> int | None:
    """None, or a whole number >= low."""
    return None if value is None else whole(name, value, low)


def random_seed(name: str, value: object) -> int:
    """A seed: a whole number in [0, SEED_MAX]."""
    return whole(name, value, 0, SEED_MAX)


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def byte_size(n_bytes: float) -> str:
    """`n_bytes` in the largest unit that keeps it >= 1 ("16 TB", "512 MB")."""
    units = ("B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    try:
        n_bytes = float(n_bytes)
    except OverflowError:  # a whole number beyond any float
        return "more than 1e308 B"
    if not math.isfinite(n_bytes):
        return "more than 1e308 B"
    for unit in units:
        if n_bytes < 1000 or unit == units[-1]:
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def fits_in_memory(name: str, value: object, n_bytes: float) -> None:
    """Refuse setting `name` if its `value` needs `n_bytes` of memory, more than this machine
    has: an absurd count is one line here, not a failed allocation deep inside a run."""
    total = memory_bytes()
    if total is not None and n_bytes > total:
        raise SettingError(
            name,
            f"{shown(value)} would need {byte_size(n_bytes)} of memory; "
            f"this machine has {byte_size(total)}",
        )


def worker_count(name: str, value: object) -> int:
    """A count of worker processes: a whole number >= 0 (0 means all cores or none, as each
    setting documents)."""
    return whole(name, value, 0)


def whole_numbers(name: str, values: object, low: int = 1, *, empty: bool = False) -> None:
    """A sequence of whole numbers >= low (non-empty unless `empty`), e.g. per-level widths."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise SettingError(name, f"expected a list of whole numbers, got {shown(values)}")
    if not values and not empty:
        raise SettingError(name, "needs at least one value")
    for value in values:
        whole(name, value, low)


def texts(name: str, values: object) -> tuple[str, ...]:
    """A sequence of text values (one string alone is not), as a tuple."""
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or not all(isinstance(v, str) for v in values)
    ):
        raise SettingError(name, f"expected a list of names, got {shown(values)}")
    return tuple(values)


def span(name: str, value: object, bound: float = 0.0, *, open_low: bool = False) -> None:
    """A (low, high) pair of finite numbers with bound <= low <= high (bound < low if open)."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise SettingError(name, f"expected two numbers [low, high], got {shown(value)}")
    start, end = (finite(name, v) for v in value)
    if start > end or start < bound or (open_low and start == bound):
        rule = f"{bound:g} {'<' if open_low else '<='} low <= high"
        raise SettingError(name, f"need {rule}, got {[start, end]}")


def one_of(name: str, value: object, choices: Iterable[str]) -> str:
    """`value` if it is one of the text `choices`."""
    known = tuple(choices)
    if not isinstance(value, str) or value not in known:
        raise SettingError(name, f"unknown {shown(value)} (use {', '.join(known)})")
    return value


__all__ = [
    "SEED_MAX",
    "at_least",
    "byte_size",
    "finite",
    "fits_in_memory",
    "flag",
    "in_range",
    "memory_bytes",
    "one_of",
    "optional_whole",
    "positive",
    "random_seed",
    "shown",
    "span",
    "texts",
    "whole",
    "whole_numbers",
    "worker_count",
]
