"""Medical uses of a diffusion prior: denoising, anomaly detection, undersampled-MRI reconstruction.

Every task takes a plain denoiser D(x, sigma) -> E[x_0 | x] on images in the data's units, so
the exact Gaussian-mixture denoiser of `medgen.analytic` checks each against closed forms and a
trained pixel-space model plugs in through `pixel_denoiser`.
"""

from __future__ import annotations

from medgen.tasks.adapter import PixelDenoiser, image_denoiser, pixel_denoiser
from medgen.tasks.anomaly import (
    NOISES,
    AnomalyResult,
    anomaly_map,
    detect_anomalies,
    gaussian_blur,
    partial_reconstruction,
    slice_score,
    structured_noise,
)
from medgen.tasks.denoise import (
    POSTERIOR_SAMPLERS,
    Denoised,
    denoise,
    matched_sigmas,
    mmse_estimate,
    posterior_mean,
    posterior_samples,
    uncertainty,
)
from medgen.tasks.kspace import (
    ACCEL_RANGE,
    MASKS,
    acceleration,
    cartesian_mask,
    data_consistency,
    equispaced_mask,
    fft2c,
    ifft2c,
    kspace_residual,
    mirror,
    random_mask,
    undersample,
    variable_density_mask,
    zero_filled,
)
from medgen.tasks.noise import (
    RICIAN_CORRECTIONS,
    RicianMoments,
    add_rician,
    border_mask,
    haar_diagonal,
    inverse_rician_mean,
    mad_sigma,
    moment_correction,
    rayleigh_sigma,
    rician_mean,
    rician_moments,
)
from medgen.tasks.reconstruct import Reconstruction, reconstruct, sample_dc

__all__ = [
    "ACCEL_RANGE",
    "MASKS",
    "NOISES",
    "POSTERIOR_SAMPLERS",
    "RICIAN_CORRECTIONS",
    "AnomalyResult",
    "Denoised",
    "PixelDenoiser",
    "Reconstruction",
    "RicianMoments",
    "acceleration",
    "add_rician",
    "anomaly_map",
    "border_mask",
    "cartesian_mask",
    "data_consistency",
    "denoise",
    "detect_anomalies",
    "equispaced_mask",
    "fft2c",
    "gaussian_blur",
    "haar_diagonal",
    "ifft2c",
    "image_denoiser",
    "inverse_rician_mean",
    "kspace_residual",
    "mad_sigma",
    "matched_sigmas",
    "mirror",
    "mmse_estimate",
    "moment_correction",
    "partial_reconstruction",
    "pixel_denoiser",
    "posterior_mean",
    "posterior_samples",
    "random_mask",
    "rayleigh_sigma",
    "reconstruct",
    "rician_mean",
    "rician_moments",
    "sample_dc",
    "slice_score",
    "structured_noise",
    "uncertainty",
    "undersample",
    "variable_density_mask",
    "zero_filled",
]
