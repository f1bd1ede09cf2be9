"""Score-based diffusion: schedules, preconditioning, losses, sigma discretisations and samplers."""

from __future__ import annotations

from medgen.diffusion.discretization import (
    DISCRETIZATIONS,
    Discretization,
    cosine_sigmas,
    karras_sigmas,
    loglinear_sigmas,
    polyexponential_sigmas,
    uniform_in_t,
    uniform_t_sigmas,
    vp_sigmas,
)
from medgen.diffusion.guidance import CondDenoiser, cfg_denoiser
from medgen.diffusion.likelihood import LikelihoodResult, pf_ode_log_likelihood
from medgen.diffusion.loss import (
    WEIGHTINGS,
    dsm_loss,
    sample_sigma_lognormal,
    sample_sigma_schedule,
)
from medgen.diffusion.nfe import CountingDenoiser, expected_nfe
from medgen.diffusion.precond import (
    PRECONDS,
    EDMPrecond,
    EpsilonDenoiser,
    Precond,
    PrecondCoefficients,
    VEPrecond,
    VPPrecond,
)
from medgen.diffusion.samplers import (
    SAMPLERS,
    Callback,
    Denoiser,
    Sampler,
    sample_ddim,
    sample_dpmpp_2m,
    sample_euler,
    sample_euler_ancestral,
    sample_euler_maruyama,
    sample_heun,
    sample_heun_churn,
    sample_lms,
    sample_pc,
)
from medgen.diffusion.schedules import (
    SCHEDULES,
    BrownianVE,
    GeometricVE,
    Schedule,
    VPCosine,
    VPLinear,
)

__all__ = [
    "DISCRETIZATIONS",
    "PRECONDS",
    "SAMPLERS",
    "SCHEDULES",
    "WEIGHTINGS",
    "BrownianVE",
    "Callback",
    "CondDenoiser",
    "CountingDenoiser",
    "Denoiser",
    "Discretization",
    "EDMPrecond",
    "EpsilonDenoiser",
    "GeometricVE",
    "LikelihoodResult",
    "Precond",
    "PrecondCoefficients",
    "Sampler",
    "Schedule",
    "VEPrecond",
    "VPCosine",
    "VPLinear",
    "VPPrecond",
    "cfg_denoiser",
    "cosine_sigmas",
    "dsm_loss",
    "expected_nfe",
    "karras_sigmas",
    "loglinear_sigmas",
    "pf_ode_log_likelihood",
    "polyexponential_sigmas",
    "sample_ddim",
    "sample_dpmpp_2m",
    "sample_euler",
    "sample_euler_ancestral",
    "sample_euler_maruyama",
    "sample_heun",
    "sample_heun_churn",
    "sample_lms",
    "sample_pc",
    "sample_sigma_lognormal",
    "sample_sigma_schedule",
    "uniform_in_t",
    "uniform_t_sigmas",
    "vp_sigmas",
]
