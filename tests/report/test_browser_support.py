"""The report checks' own reading of "value [low, high]" (no browser needed)."""

from __future__ import annotations

from browser_support import outside_interval


def test_only_estimates_outside_their_interval_are_reported() -> None:
    text = "FD 2.42 [1.23, 2.42], recall 0.5 [0.6, 0.9], KID -4.7 [-5, 6.6], precision 1 [0.327, 1]"
    assert outside_interval(text) == ["0.5 [0.6, 0.9]"]
    assert outside_interval("coverage 0.482 [0.348, 0.444]") == ["0.482 [0.348, 0.444]"]
    assert outside_interval("no intervals here: 3 of 4 [sic]") == []
