"""One training loop for every family, on HF accelerate: budget, EMA, checkpoints, exact resume.

A step runs `model.phases` in order, each with its own AdamW over `model.phase_parameters`:
zero the gradients, `loss = model.loss(batch, phase, generator)["loss"]`, backward, clip, step.
Everything a step depends on (weights, EMA, optimizer moments, every RNG, the data position and
the metrics being averaged) is in each checkpoint, so a run killed at any moment and resumed ends
bit-identical, on CPU, to one never stopped. `accelerate launch -m medgen train ...` runs the same
loop on many processes (DDP); only the main process writes files.

Each metrics line and sample grid can also go to experiment trackers (`log_with`: TensorBoard,
W&B, MLflow, Aim, Comet; `medgen.train.tracking`); they only receive copies, so a run ends with
the same weights with or without them.

Two fresh runs with the same seed, data and config end bit-identical on CPU too: `train_on_data`
seeds every generator before it builds the model, and `train` seeds them again, per process,
before the first step. On a GPU the initial weights (built on the CPU), the data order and the
noise are the same as well, but by default cuDNN and cuBLAS may pick kernels that sum in a
varying order, so two runs part in the last bits after the first step and drift further. They
stay bit-identical when the process calls `torch.use_deterministic_algorithms(True)` and has
`CUBLAS_WORKSPACE_CONFIG=:4096:8` in its environment before CUDA starts (tests/test_gpu.py),
at some cost in speed; the trainer leaves that choice to the caller.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import Dataset

from medgen import __version__
from medgen.fileio import make_folder, write_json_atomic
from medgen.models.protocol import GenerativeModel
from medgen.train.batches import Position, check_batch_size, stream, to_device
from medgen.train.checkpoint import latest_checkpoint, remove_partial
from medgen.train.config import TrainConfig, learning_rate
from medgen.train.launch import leaving_process_group, meet_peers
from medgen.train.process import (
    TrainProcess,
    export,
    make_accelerator,
    new_process,
    restore,
    save,
)
from medgen.train.progress import TrainProgress, train_progress
from medgen.train.rundir import CONFIG, resume_point, run_config, truncate_metrics, write_summary
from medgen.train.sinks import log_metrics, write_samples
from medgen.train.step import NonFiniteLoss, NonFiniteValue, train_step
from medgen.train.tracking import TRACKER_DIR, check_trackers

Collate = Callable[[list[Any]], Any]


@dataclass
class TrainSummary:
    """How a run ended (summary.json): status is "finished", "interrupted" or "stopped: ..."."""

    status: str
    steps: int
    images: int  # all processes together
    seconds: float  # training wall time, all sessions of a resumed run
    images_per_second: float
    final_metrics: dict[str, float]  # the last metrics.jsonl line's
    parameters: int
    world_size: int
    budget: str
    family: str
    checkpoint: str | None  # the newest checkpoint, relative to the run folder
    medgen_version: str = __version__

    def as_dict(self) -> dict[str, Any]:
        """summary.json's object: the fields and `finished` (whether the budget was spent)."""
        return {**asdict(self), "finished": self.status == "finished"}


def train(
    model: GenerativeModel,
    dataset: Dataset[Any],
    out: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    cpu: bool = False,
    progress: bool = True,
    collate_fn: Collate | None = None,
    data: str | Path | None = None,
    log_with: Sequence[str] = (),
) -> dict[str, Any]:
    """Train `model` on `dataset` into run folder `out` until `config.budget` is spent.

    With `resume`, continue from the newest checkpoint in `out` (the config may differ only in
    the budget and bookkeeping keys); without it, a folder holding a run is refused. Ctrl-C or
    SIGTERM saves a checkpoint at the next step boundary and returns status "interrupted". A
    non-finite loss writes summary.json and raises `NonFiniteLoss`, keeping the last good
    checkpoint. `log_with` names experiment trackers that get a copy of every metrics line and
    sample grid (their local files in out/tracker).
    """
    out = Path(out)
    trackers = check_trackers(log_with)
    accelerator = make_accelerator(cpu, trackers, out / TRACKER_DIR if trackers else None)
    settings = run_config(config, model, data)
    start = resume_point(out, resume, settings)
    size = len(dataset)  # type: ignore[arg-type]
    check_batch_size(size, config.batch_size, accelerator.num_processes)
    run = new_process(accelerator, model, config, out, settings)
    with train_progress(progress and run.main) as bar:
        if start is not None:
            restore(run, start)
            bar.note(f"resuming {out} from step {run.state.step}")
        if run.main:
            make_folder(out)
            remove_partial(out)
            run.record = truncate_metrics(out, run.state.step if start is not None else -1)
            write_json_atomic(out / CONFIG, settings)
        try:
            run.trackers.start(run.state.step, settings)
            with _stop_requests() as stop:
                return _loop(run, dataset, collate_fn, stop, bar)
        finally:
            run.trackers.finish()


@contextlib.contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, so the loop stops at a step boundary; a second Ctrl-C
    raises KeyboardInterrupt at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _loop(
    run: TrainProcess,
    dataset: Dataset[Any],
    collate_fn: Collate | None,
    stop: threading.Event,
    bar: TrainProgress,
) -> dict[str, Any]:
    """Step until the budget is spent, a stop is requested or the loss goes non-finite."""
    state, config = run.state, run.config
    budget = config.budget_
    started, before, first_images = time.perf_counter(), state.seconds, state.images
    batches = stream(
        dataset,
        batch_size=config.batch_size,
        world=run.world,
        rank=run.accelerator.process_index,
        seed=config.seed,
        epoch=state.epoch,
        index=state.batch,
        num_workers=config.num_workers,
        collate_fn=collate_fn,
    )
    status = "finished"
    try:
        while True:
            state.seconds = before + time.perf_counter() - started
            spent = budget.done(state.step, state.images, state.seconds)
            interrupted, spent = _agree(run.accelerator, stop.is_set(), spent)
            if spent:
                break
            if interrupted:
                status = "interrupted"
                break
            metrics = _advance(run, next(batches))
            state.seconds = before + time.perf_counter() - started
            _after_step(run)
            fraction = budget.fraction(state.step, state.images, state.seconds)
            info = _bar_info(metrics, state.images - first_images, state.seconds - before)
            bar.update(fraction, state.step, info)
    except NonFiniteValue as err:
        status = f"stopped: non-finite {err.what} at step {state.step + 1}"
        summary = _summary(run, status)
        if run.main:
            write_summary(run.out, summary.as_dict())
        where = summary.checkpoint or "none was written"
        raise NonFiniteLoss(
            f"{status} (phase {err.phase!r}, value {err.value}); "
            f"the last good checkpoint is kept: {where}"
        ) from None
    finally:
        batches.close()
    return _finish(run, status, bar)


def _advance(run: TrainProcess, position: Position) -> dict[str, float]:
    """Train on one batch and move the state past it; the step's metrics."""
    state, config = run.state, run.config
    metrics = train_step(
        run.accelerator,
        run.model,
        run.loss_module,
        run.optimizers,
        to_device(position.batch, run.accelerator.device),
        generator=run.generator,
        lr=learning_rate(config, state.step, run.total),
        grad_clip=config.grad_clip,
    )
    if run.ema is not None:
        run.ema.update(run.model, state.step)
    state.step += 1
    state.images += config.batch_size * run.world
    state.epoch, state.batch = position.epoch, position.consumed
    for name, value in metrics.items():
        total, count = state.pending.get(name, [0.0, 0.0])
        state.pending[name] = [total + value, count + 1]
    return metrics


def _agree(accelerator: Accelerator, interrupted: bool, spent: bool) -> tuple[bool, bool]:
    """Make every process stop at the same step: any one's interrupt, the main one's clock."""
    if accelerator.num_processes == 1:
        return interrupted, spent
    flags = torch.tensor(
        [float(interrupted), float(spent and accelerator.is_main_process)],
        device=accelerator.device,
    )
    flags = accelerator.reduce(flags, "sum")
    return bool(flags[0] > 0), bool(flags[1] > 0)


def _after_step(run: TrainProcess) -> None:
    """Log, monitor, sample and checkpoint at the steps the config asks for."""
    step, config = run.state.step, run.config
    monitor = config.monitor_every > 0 and step % config.monitor_every == 0
    if step % config.log_every == 0 or monitor:
        log_metrics(run, monitor=monitor)
    if config.sample_every and step % config.sample_every == 0:
        write_samples(run)
    if step % config.checkpoint_every == 0:
        save(run)


def _finish(run: TrainProcess, status: str, bar: TrainProgress) -> dict[str, Any]:
    """Final metrics line, samples, checkpoint and export; then summary.json."""
    config, step = run.config, run.state.step
    if status == "finished":
        if run.state.pending:
            log_metrics(run, monitor=False)
        if config.sample_every == 0 or step % config.sample_every != 0:
            write_samples(run)
    if step != run.saved_step:
        save(run)
    if status == "finished" and run.main:
        export(run)
    summary = _summary(run, status).as_dict()
    if run.main:
        write_summary(run.out, summary)
    bar.note(f"{status} at step {step}: {run.out}")
    run.accelerator.wait_for_everyone()
    return summary


def _summary(run: TrainProcess, status: str) -> TrainSummary:
    state = run.state
    newest = latest_checkpoint(run.out)
    return TrainSummary(
        status=status,
        steps=state.step,
        images=state.images,
        seconds=round(state.seconds, 3),
        images_per_second=round(state.images / state.seconds, 2) if state.seconds > 0 else 0.0,
        final_metrics=dict(run.record.get("metrics", {})),
        parameters=sum(p.numel() for p in run.model.parameters()),
        world_size=run.world,
        budget=run.config.budget,
        family=run.model.family,
        checkpoint=None if newest is None else str(newest.relative_to(run.out)),
    )


def _bar_info(metrics: dict[str, float], images: int, seconds: float) -> str:
    """The losses of the last step and images per second since this session started."""
    losses = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.endswith("loss"))
    return f"{losses}  {images / seconds:.0f} img/s" if seconds > 0 else losses


__all__ = [
    "NonFiniteLoss",
    "TrainSummary",
    "leaving_process_group",
    "meet_peers",
    "train",
]
