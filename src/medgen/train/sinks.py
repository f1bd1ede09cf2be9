"""Where a run's measurements go: metrics.jsonl lines (the record), sample grids, and the
experiment trackers, which get a copy of both.

Only the main process writes; the metrics are averaged across processes before they get here.
"""

from __future__ import annotations

from medgen.train.config import learning_rate
from medgen.train.process import TrainProcess, fixed_generator, inference
from medgen.train.rundir import append_metrics, sample_path, write_grid


def log_metrics(run: TrainProcess, *, monitor: bool) -> None:
    """Append the metrics averaged since the last line (and across processes), with the
    model's monitors when `monitor`, to metrics.jsonl and the trackers."""
    state = run.state
    images, seconds = run.window
    metrics = {name: total / count for name, (total, count) in sorted(state.pending.items())}
    if monitor and run.main:
        with inference(run) as model:
            metrics |= {k: float(v) for k, v in model.monitor(fixed_generator(run)).items()}
    rate = (state.images - images) / max(state.seconds - seconds, 1e-9)
    run.record = {
        "step": state.step,
        "images": state.images,
        "seconds": round(state.seconds, 3),
        "images_per_second": round(rate, 2),
        "lr": learning_rate(run.config, state.step - 1, run.total),
        "metrics": metrics,
    }
    state.pending.clear()
    run.window = (state.images, state.seconds)
    if run.main:
        append_metrics(run.out, run.record)
        run.trackers.log(run.record)


def write_samples(run: TrainProcess) -> None:
    """Write a grid of samples from a fixed seed, so grids of different steps compare; the
    trackers get it as an image."""
    if not run.main:
        return
    with inference(run) as model:
        images = model.sample(run.config.sample_count, generator=fixed_generator(run))
    path = sample_path(run.out, run.state.step)
    grid = write_grid(path, images)
    run.trackers.log_grid(grid, path, run.state.step)


__all__ = ["log_metrics", "write_samples"]
