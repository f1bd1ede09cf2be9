"""`lab score-matching`: naive score matching (which needs the true score) and denoising score
matching (which does not) train the same model. One MLP, one initialisation, the same batches:
trained once on J_naive and once on J_dsm; at the same parameters their gradients agree, and
J_naive - J_dsm stays constant in theta (Vincent 2011)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from medgen.analytic import GaussianMixture
from medgen.analytic.objectives import DiffusionDraw, draw, dsm_terms, naive_terms
from medgen.lab.common import LabResult, save

T_MIN, T_MAX = 0.05, 1.0  # training times, t ~ U(T_MIN, T_MAX)
STEPS = 1000  # optimiser steps per objective
BATCH = 512
CHECK_N = 100_000  # samples of the fixed evaluation draw (common random numbers)


def lab_mixture() -> GaussianMixture:
    """A 2-D mixture of three unequal, anisotropic components."""
    f64 = torch.float64
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.5, -2.0]], dtype=f64)
    covs = torch.tensor([[0.3, 0.3], [0.6, 0.15], [0.2, 0.5]], dtype=f64) ** 2
    return GaussianMixture(torch.tensor([0.5, 0.3, 0.2], dtype=f64), means, covs)


def weight(t: Tensor) -> Tensor:
    """lambda(t) = sigma^2 t: each time contributes on the same scale (Song et al. 2021)."""
    return t


class ScoreMLP(nn.Module):
    """s_theta(x, t): an MLP on (x, log t), (B, 2) x (B,) -> (B, 2)."""

    def __init__(self, width: int = 96) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, 2),
        )

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        # Dividing by sqrt(t) lets the net output the O(1/sqrt(t)) score at O(1) scale.
        return self.net(torch.cat([x, t.log()[:, None]], dim=1)) / t.sqrt()[:, None]


def gradient(model: ScoreMLP, loss: Tensor) -> Tensor:
    """The flattened gradient of `loss` with respect to the model's parameters."""
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return torch.cat([g.flatten() for g in grads])


def check(model: ScoreMLP, mixture: GaussianMixture, fixed: DiffusionDraw) -> dict[str, float]:
    """At the model's current parameters: both objectives and their gradients on one draw."""
    naive = naive_terms(model, mixture, fixed, weight)
    dsm = dsm_terms(model, mixture, fixed, weight)
    g_naive, g_dsm = gradient(model, naive.mean()), gradient(model, dsm.mean())
    difference = (naive - dsm).detach()
    return {
        "j_naive": float(naive.mean().detach()),
        "j_dsm": float(dsm.mean().detach()),
        "difference": float(difference.mean()),
        "difference_se": float(difference.std() / np.sqrt(len(difference))),
        "grad_cosine": float(torch.nn.functional.cosine_similarity(g_naive, g_dsm, dim=0)),
        "grad_relative_error": float((g_naive - g_dsm).norm() / g_naive.norm()),
    }


def train(
    model: ScoreMLP,
    mixture: GaussianMixture,
    objective: str,
    fixed: DiffusionDraw,
    seed: int,
    steps: int,
) -> list[dict[str, Any]]:
    """Adam on J_naive or J_dsm with batches drawn from `seed`; six checks along the way."""
    check_every = max(1, steps // 5)
    terms = {"naive": naive_terms, "dsm": dsm_terms}[objective]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for step in range(steps + 1):
        if step % check_every == 0:
            history.append({"step": step, **check(model, mixture, fixed)})
        if step == steps:
            break
        batch = draw(mixture, n=BATCH, generator=gen, t_min=T_MIN, t_max=T_MAX)
        loss = terms(model, mixture, batch, weight).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return history


COSINE_TOP = 1.001  # the cosine panel's upper y-limit, just above a perfect 1
COSINE_BOTTOM = 0.9  # its lower y-limit, unless a cosine falls below it


def cosine_limits(cosines: Sequence[float]) -> tuple[float, float]:
    """The cosine panel's y-limits: down to COSINE_BOTTOM, or lower with a 5% margin so the
    lowest cosine (which the summary quotes) is on the plot."""
    lowest = float(np.min(cosines)) if len(cosines) else COSINE_BOTTOM
    return min(COSINE_BOTTOM, lowest - 0.05 * (COSINE_TOP - lowest)), COSINE_TOP


def curves_figure(histories: dict[str, list[dict[str, Any]]]) -> Figure:
    """J_naive of each run, J_naive - J_dsm along both runs, and the gradients' agreement."""
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    for name, history in histories.items():
        steps = [h["step"] for h in history]
        axes[0].plot(steps, [h["j_naive"] for h in history], label=f"trained on J_{name}")
        diff = np.array([h["difference"] for h in history])
        se = np.array([h["difference_se"] for h in history])
        axes[1].errorbar(steps, diff, yerr=2 * se, label=f"along J_{name} training", capsize=2)
        axes[2].plot(steps, [h["grad_cosine"] for h in history], "o-", label=f"J_{name} run")
    axes[0].set(xlabel="step", ylabel="J_naive (error to the true score)", yscale="log")
    axes[1].set(xlabel="step", ylabel="J_naive - J_dsm (± 2 s.e.)", title="constant in theta")
    cosines = [h["grad_cosine"] for history in histories.values() for h in history]
    axes[2].set(
        xlabel="step", ylabel="cosine(grad J_naive, grad J_dsm)", ylim=cosine_limits(cosines)
    )
    for ax in axes:
        ax.legend(fontsize=8)
    return fig


def run_score_matching_lab(out: Path, *, seed: int = 0, scale: float = 1.0) -> LabResult:
    """Train the same MLP on J_naive and on J_dsm; compare gradients, errors and the constant
    (`scale` multiplies the budget: training steps and check samples)."""
    steps, check_n = max(50, round(STEPS * scale)), max(20_000, round(CHECK_N * scale))
    torch.manual_seed(seed)
    mixture = lab_mixture().to(torch.float32)  # float32: the check draws are large
    fixed = draw(
        mixture,
        n=check_n,
        generator=torch.Generator().manual_seed(seed + 1),
        t_min=T_MIN,
        t_max=T_MAX,
    )
    init = ScoreMLP()
    histories = {
        name: train(copy.deepcopy(init), mixture, name, fixed, seed + 2, steps)
        for name in ("naive", "dsm")
    }
    differences = np.array([h["difference"] for run in histories.values() for h in run])
    ses = np.array([h["difference_se"] for run in histories.values() for h in run])
    cosines = np.array([h["grad_cosine"] for run in histories.values() for h in run])
    rel = np.array([h["grad_relative_error"] for run in histories.values() for h in run])
    final = {name: run[-1]["j_naive"] for name, run in histories.items()}
    numbers = {
        "histories": histories,
        "difference_spread": float(differences.max() - differences.min()),
        "difference_mean": float(differences.mean()),
        "difference_typical_se": float(np.median(ses)),
        "grad_cosine_min": float(cosines.min()),
        "grad_relative_error_max": float(rel.max()),
        "final_score_error_j_naive": final,
        "check_samples": check_n,
        "training_steps": steps,
    }
    caption = (
        "Training on J_naive vs J_dsm from one initialisation: the error to the true score, "
        "the difference J_naive - J_dsm, and the gradients' cosine."
    )
    figures = [save(curves_figure(histories), out, "score_matching.png", caption)]
    summary = (
        f"Over {len(differences)} checkpoints of both runs, J_naive - J_dsm stayed at "
        f"{numbers['difference_mean']:.3f} with a spread of {numbers['difference_spread']:.4f} "
        f"(Monte Carlo standard error {numbers['difference_typical_se']:.4f}): a constant in "
        f"theta. At the same parameters the two gradients agree (cosine >= "
        f"{numbers['grad_cosine_min']:.4f}, relative error <= "
        f"{numbers['grad_relative_error_max']:.3f} on {check_n:,} samples). Trained on the same "
        f"batches, the models reach J_naive {final['naive']:.4f} (naive, which needs the true "
        f"score) and {final['dsm']:.4f} (DSM, which needs only samples): denoising score "
        f"matching learns the same score without knowing it."
    )
    return LabResult(
        "score-matching", "Denoising vs naive score matching", summary, numbers, figures
    )
