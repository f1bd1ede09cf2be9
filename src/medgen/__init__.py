"""medgen: generative models for medical imaging."""

from __future__ import annotations

__version__ = "0.1.0"
