"""The classifiers compared, each as a Method: raw [0, 1] slices in, class probabilities out.

Every method answers in the task's class order, so the table scores them alike. The diffusion
classifier's range of noise levels is chosen on dev (`choose_levels`) from one set of draws:
the errors are computed once over the model's whole range, and a narrower range only zeroes
the weights of the draws outside it, so the choice costs no extra network evaluations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from medgen.detect.pipeline import Detector
from medgen.tasks.classification.bayes import NoiseDraws, classify, log_posterior, within
from medgen.tasks.classification.conditional import ConditionalDenoiser, signed
from medgen.tasks.classification.peers import (
    cnn_probabilities,
    detector_probabilities,
    parameter_count,
)
from medgen.tasks.classification.scores import correct

# (N, H, W) float32 slices in [0, 1] -> (N, K) class probabilities in the task's class order
Probabilities = Callable[[np.ndarray], np.ndarray]


class Method(NamedTuple):
    """One classifier in the comparison."""

    name: str
    probabilities: Probabilities
    nfe: int  # network evaluations per slice
    parameters: int  # trainable parameters (the detector: both of its networks)


def reorder(names: Sequence[str], classes: Sequence[str]) -> list[int]:
    """Column index in `names` of each of `classes` (ValueError if one is missing)."""
    missing = [c for c in classes if c not in names]
    if missing:
        raise ValueError(f"class {missing[0]!r} is not among {', '.join(names)}")
    return [list(names).index(c) for c in classes]


def class_log_prior(labels: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """(K,) log class frequencies of the training labels (each class counted at least once)."""
    counts = np.array([sum(1 for v in labels if v == c) for c in classes], np.float64)
    counts = np.maximum(counts, 1.0)
    return torch.from_numpy(np.log(counts / counts.sum()))


def diffusion_errors(
    cd: ConditionalDenoiser, images: np.ndarray, draws: NoiseDraws, batch_size: int = 16
) -> torch.Tensor:
    """(N, K, S) denoising errors of slices (N, H, W) for the model's classes on `draws`."""
    x = signed(torch.from_numpy(np.asarray(images, np.float32)))
    k = len(cd.classes)
    return classify(cd.denoiser, x, torch.zeros(k), draws, batch_size).errors


def choose_levels(
    errors: torch.Tensor,
    truth: np.ndarray,
    draws: NoiseDraws,
    log_prior: torch.Tensor,
    ranges: Sequence[tuple[float, float]],
) -> tuple[float, float]:
    """The range of levels among `ranges` with the best accuracy on (dev) errors (N, K, S) and
    true indices (N,) in the errors' class order; the widest of equals (listed first)."""
    accuracy = [
        correct(log_posterior(errors, within(draws, lo, hi), log_prior).numpy(), truth).mean()
        for lo, hi in ranges
    ]
    return ranges[int(np.argmax(accuracy))]


def diffusion_method(
    name: str,
    cd: ConditionalDenoiser,
    draws: NoiseDraws,
    log_prior: torch.Tensor,
    classes: Sequence[str],
    batch_size: int = 16,
) -> Method:
    """The diffusion classifier on `draws` (their weights: the chosen levels); `log_prior` in the
    model's class order, answers in `classes` order. Draws of weight 0 are not evaluated."""
    used = draws.weights > 0
    kept = NoiseDraws(draws.sigmas[used], draws.noise[used], draws.weights[used])
    order = reorder(cd.classes, classes)

    def probabilities(images: np.ndarray) -> np.ndarray:
        x = signed(torch.from_numpy(np.asarray(images, np.float32)))
        post = classify(cd.denoiser, x, log_prior, kept, batch_size)
        return post.log_posterior.exp().numpy()[:, order]

    n = len(cd.classes) * len(kept.sigmas)
    return Method(name, probabilities, n, cd.parameters)


def cnn_method(name: str, model: nn.Module) -> Method:
    """The supervised CNN (trained in the task's class order): one network evaluation."""
    return Method(name, lambda images: cnn_probabilities(model, images), 1, parameter_count(model))


def detector_method(name: str, detector: Detector, classes: Sequence[str]) -> Method:
    """The detector's pipeline (its classify part's output), in `classes` order."""
    from medgen.detect.classify import CLASSES

    order = reorder(CLASSES, classes)
    size = parameter_count(detector.net) + parameter_count(detector.classifier)
    return Method(name, lambda images: detector_probabilities(detector, images)[:, order], 1, size)
