"""Shared toys for the task tests: one thread, and a smooth Gaussian image prior with its denoiser.

The prior is N(0.5, S) on 8 x 8 images with a squared-exponential covariance: images vary
smoothly and little, as anatomy does between scans, so a bright sharp blob is off its manifold,
and undersampled k-space leaves little doubt about the image. Its exact denoiser comes from
`medgen.analytic.GaussianMixture` (K = 1, d = 64).
"""

from __future__ import annotations

import pytest
from task_toys import smooth_prior

from medgen.analytic.mixture import GaussianMixture


@pytest.fixture(autouse=True)
def _every_task_test_on_one_thread(one_thread: None) -> None:
    """The machine is shared: every task test runs on one thread (the root `one_thread`)."""


@pytest.fixture(scope="module")
def reconstruction_prior() -> GaussianMixture:
    """Pixel std 0.2, correlation length 3 pixels."""
    return smooth_prior(0.2, 3.0)


@pytest.fixture(scope="module")
def anatomy_prior() -> GaussianMixture:
    """Pixel std 0.1, correlation length 3 pixels: little variation between 'healthy' images."""
    return smooth_prior(0.1, 3.0)
