"""How long a run trains: a number of optimizer steps, of images seen, or of wall-clock seconds."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from medgen.exceptions import SettingError

FORMS = "a number of steps ('500steps'), images ('20000img') or a duration ('90s', '10m', '1.5h')"

_UNITS: dict[str, tuple[str, float]] = {
    "step": ("steps", 1.0),
    "steps": ("steps", 1.0),
    "img": ("images", 1.0),
    "imgs": ("images", 1.0),
    "image": ("images", 1.0),
    "images": ("images", 1.0),
    "s": ("seconds", 1.0),
    "sec": ("seconds", 1.0),
    "m": ("seconds", 60.0),
    "min": ("seconds", 60.0),
    "h": ("seconds", 3600.0),
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Budget:
    """Stop once any of the set limits is reached (images count every process's batches)."""

    steps: int | None = None
    images: int | None = None
    seconds: float | None = None

    def done(self, step: int, images: int, seconds: float) -> bool:
        """Whether a run at `step`, having seen `images` in `seconds`, has spent the budget."""
        return self.fraction(step, images, seconds) >= 1.0

    def fraction(self, step: int, images: int, seconds: float) -> float:
        """How much of the budget is spent, in [0, 1] (the largest share of any set limit)."""
        shares = [0.0]
        if self.steps is not None:
            shares.append(step / self.steps)
        if self.images is not None:
            shares.append(images / self.images)
        if self.seconds is not None:
            shares.append(seconds / self.seconds)
        return min(1.0, max(shares))

    def __str__(self) -> str:
        parts = []
        if self.steps is not None:
            parts.append(f"{self.steps}steps")
        if self.images is not None:
            parts.append(f"{self.images}img")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g}s")
        return " or ".join(parts) if parts else "unlimited"


def parse_budget(text: str) -> Budget:
    """A `Budget` from text such as "500steps", "20000img", "90s", "10m" or "1.5h"."""
    match = _PATTERN.match(text.lower())
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise SettingError("budget", f"cannot read {text!r}; expected {FORMS}")
    kind, scale = unit
    value = float(match.group(1)) * scale
    if not math.isfinite(value) or value <= 0:
        raise SettingError("budget", f"{text!r} is not positive; expected {FORMS}")
    if kind == "seconds":
        return Budget(seconds=value)
    if value != int(value):
        raise SettingError("budget", f"{text!r}: {kind} must be a whole number")
    return Budget(steps=int(value)) if kind == "steps" else Budget(images=int(value))


__all__ = ["Budget", "parse_budget"]
