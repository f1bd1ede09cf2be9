"""One training loop for every family, on HF accelerate: budget, EMA, checkpoints, exact resume.

A step runs `model.phases` in order, each with its own AdamW over `model.phase_parameters`:
zero the gradients, `loss = model.loss(batch, phase, generator)["loss"]`, backward, clip, step.
Everything a step depends on (weights, EMA, optimizer moments, every RNG, the data position and
the metrics being averaged) is in each checkpoint, so a run killed at any moment and resumed ends
bit-identical, on CPU, to one never stopped. `accelerate launch -m medgen train ...` runs the same
loop on many processes (DDP); only the main process writes files.

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
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs
from torch import Tensor, nn
from torch.utils.data import Dataset

from medgen import __version__
from medgen.exceptions import InputError
from medgen.fileio import write_json_atomic
from medgen.models.protocol import Batch, GenerativeModel
from medgen.train.batches import Position, check_batch_size, stream, to_device
from medgen.train.checkpoint import (
    TrainState,
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    remove_partial,
    save_checkpoint,
)
from medgen.train.config import TrainConfig, learning_rate, total_steps
from medgen.train.ema import EMA
from medgen.train.progress import TrainProgress, train_progress
from medgen.train.rng import (
    capture_rng,
    preserved_global_rng,
    process_seed,
    restore_rng,
    seed_all,
)
from medgen.train.rundir import (
    CONFIG,
    MODEL,
    append_metrics,
    resume_point,
    run_config,
    sample_path,
    truncate_metrics,
    write_grid,
    write_summary,
)
from medgen.train.step import NonFiniteLoss, NonFiniteValue, train_step

Collate = Callable[[list[Any]], Any]

# The keys on which a launch's ranks meet before they leave (leaving_process_group).
_ARRIVED_KEY = "medgen/leaving/arrived"
_ALL_ARRIVED_KEY = "medgen/leaving/all"


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


@dataclass
class _Run:
    """Everything one training process holds."""

    accelerator: Accelerator
    model: GenerativeModel
    loss_module: nn.Module  # the model's loss as `forward`, prepared (DDP-wrapped when many)
    optimizers: dict[str, Any]  # phase -> optimizer prepared by accelerate
    raw_optimizers: dict[str, torch.optim.Optimizer]
    ema: EMA | None
    generator: torch.Generator  # the model's noise in this process
    config: TrainConfig
    out: Path
    settings: dict[str, Any]  # config.json
    total: int | None  # steps the budget allows, for the cosine schedule
    state: TrainState = field(default_factory=TrainState)
    saved_step: int = -1  # step of the newest checkpoint on disk
    record: dict[str, Any] = field(default_factory=dict)  # the last metrics line
    window: tuple[int, float] = (0, 0.0)  # images and seconds at the last metrics line

    @property
    def main(self) -> bool:
        return bool(self.accelerator.is_main_process)

    @property
    def world(self) -> int:
        return int(self.accelerator.num_processes)


class _LossModule(nn.Module):
    """`model.loss` as `forward`, so DDP's gradient hooks fire through the protocol's method."""

    def __init__(self, model: GenerativeModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, batch: Batch, phase: str, generator: torch.Generator | None
    ) -> dict[str, Tensor]:
        return self.model.loss(batch, phase, generator)


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
) -> dict[str, Any]:
    """Train `model` on `dataset` into run folder `out` until `config.budget` is spent.

    With `resume`, continue from the newest checkpoint in `out` (the config may differ only in
    the budget and bookkeeping keys); without it, a folder holding a run is refused. Ctrl-C or
    SIGTERM saves a checkpoint at the next step boundary and returns status "interrupted". A
    non-finite loss writes summary.json and raises `NonFiniteLoss`, keeping the last good
    checkpoint.
    """
    out = Path(out)
    accelerator = _accelerator(cpu)
    settings = run_config(config, model, data)
    start = resume_point(out, resume, settings)
    size = len(dataset)  # type: ignore[arg-type]
    check_batch_size(size, config.batch_size, accelerator.num_processes)
    run = _setup(accelerator, model, config, out, settings)
    with train_progress(progress and run.main) as bar:
        if start is not None:
            _restore(run, start)
            bar.note(f"resuming {out} from step {run.state.step}")
        if run.main:
            out.mkdir(parents=True, exist_ok=True)
            remove_partial(out)
            run.record = truncate_metrics(out, run.state.step if start is not None else -1)
            write_json_atomic(out / CONFIG, settings)
        with _stop_requests() as stop:
            return _loop(run, dataset, collate_fn, stop, bar)


def _accelerator(cpu: bool) -> Accelerator:
    """An Accelerator whose processes are all those `accelerate launch` started."""
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)]  # GAN phases
    accelerator = Accelerator(cpu=cpu, kwargs_handlers=handlers)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise InputError(
            "accelerate launch",
            f"started {launched} processes that did not join one run; "
            "on a machine without GPUs pass --cpu",
        )
    return accelerator


def _setup(
    accelerator: Accelerator,
    model: GenerativeModel,
    config: TrainConfig,
    out: Path,
    settings: dict[str, Any],
) -> _Run:
    """Prepare the model (then its optimizers, as FSDP needs) and a fresh state."""
    model.train()
    loss_module = accelerator.prepare(_LossModule(model))
    raw: dict[str, torch.optim.Optimizer] = {
        phase: torch.optim.AdamW(
            model.phase_parameters(phase),
            lr=config.lr,
            betas=config.betas,
            weight_decay=config.weight_decay,
        )
        for phase in model.phases
    }
    prepared = accelerator.prepare(*raw.values())
    prepared = prepared if isinstance(prepared, tuple | list) else (prepared,)
    generator = torch.Generator(device=accelerator.device)
    seed_all(generator, process_seed(config.seed, accelerator.process_index))
    return _Run(
        accelerator=accelerator,
        model=model,
        loss_module=loss_module,
        optimizers=dict(zip(model.phases, prepared, strict=True)),
        raw_optimizers=raw,
        ema=EMA(model, config.ema_decay, warmup=config.ema_warmup) if model.uses_ema else None,
        generator=generator,
        config=config,
        out=out,
        settings=settings,
        total=total_steps(config, accelerator.num_processes),
        state=TrainState(world_size=accelerator.num_processes),
    )


def _restore(run: _Run, start: Path) -> None:
    """Load checkpoint `start` into every part of `run`, random states last."""
    checkpoint = load_checkpoint(
        start,
        model=run.model,
        optimizers=run.raw_optimizers,
        ema=run.ema,
        rng_like=capture_rng(run.generator),
        world_size=run.world,
    )
    run.state = checkpoint.state
    run.saved_step = run.state.step
    run.window = (run.state.images, run.state.seconds)
    rank = run.accelerator.process_index
    fallback = process_seed(run.config.seed, rank) + run.state.step
    restore_rng({k: v[rank] for k, v in checkpoint.rng.items()}, run.generator, fallback)


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
    run: _Run,
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


def _advance(run: _Run, position: Position) -> dict[str, float]:
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


def _after_step(run: _Run) -> None:
    """Log, monitor, sample and checkpoint at the steps the config asks for."""
    step, config = run.state.step, run.config
    monitor = config.monitor_every > 0 and step % config.monitor_every == 0
    if step % config.log_every == 0 or monitor:
        _log(run, monitor=monitor)
    if config.sample_every and step % config.sample_every == 0:
        _sample(run)
    if step % config.checkpoint_every == 0:
        _save(run)


def _log(run: _Run, *, monitor: bool) -> None:
    """Append the metrics averaged since the last line (and across processes)."""
    state = run.state
    images, seconds = run.window
    metrics = {name: total / count for name, (total, count) in sorted(state.pending.items())}
    if monitor and run.main:
        with _inference(run) as model:
            metrics |= {k: float(v) for k, v in model.monitor(_fixed_generator(run)).items()}
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


def _sample(run: _Run) -> None:
    """Write a grid of samples from a fixed seed, so grids of different steps compare."""
    if not run.main:
        return
    with _inference(run) as model:
        images = model.sample(run.config.sample_count, generator=_fixed_generator(run))
    write_grid(sample_path(run.out, run.state.step), images)


@contextlib.contextmanager
def _inference(run: _Run) -> Iterator[GenerativeModel]:
    """The model in eval mode (with its EMA weights, if any) for a block that must leave every
    random state and the trained weights as they were."""
    model = run.model
    swap = run.ema.applied(model) if run.ema is not None else contextlib.nullcontext()
    with preserved_global_rng(), torch.no_grad(), swap:
        model.eval()
        try:
            yield model
        finally:
            model.train()


def _fixed_generator(run: _Run) -> torch.Generator:
    generator = torch.Generator(device=run.accelerator.device)
    generator.manual_seed(run.config.seed)
    return generator


def _save(run: _Run) -> None:
    """Write a checkpoint of this step boundary (every process contributes its RNG states)."""
    rng = capture_rng(run.generator)
    if run.world == 1:
        stacked = {k: v.unsqueeze(0) for k, v in rng.items()}
    else:
        device = run.accelerator.device
        stacked = {
            k: run.accelerator.gather(v.to(device)).reshape(run.world, -1).cpu()
            for k, v in rng.items()
        }
    if run.main:
        save_checkpoint(
            checkpoint_dir(run.out, run.state.step),
            model=run.model,
            optimizers=run.raw_optimizers,
            ema=run.ema,
            rng=stacked,
            state=run.state,
            config=run.settings,
        )
        prune_checkpoints(run.out, run.config.keep_checkpoints)
    run.saved_step = run.state.step


def _finish(run: _Run, status: str, bar: TrainProgress) -> dict[str, Any]:
    """Final metrics line, samples, checkpoint and export; then summary.json."""
    config, step = run.config, run.state.step
    if status == "finished":
        if run.state.pending:
            _log(run, monitor=False)
        if config.sample_every == 0 or step % config.sample_every != 0:
            _sample(run)
    if step != run.saved_step:
        _save(run)
    if status == "finished" and run.main:
        _export(run)
    summary = _summary(run, status).as_dict()
    if run.main:
        write_summary(run.out, summary)
    bar.note(f"{status} at step {step}: {run.out}")
    run.accelerator.wait_for_everyone()
    return summary


@contextlib.contextmanager
def leaving_process_group(timeout: float = 60.0) -> Iterator[None]:
    """Run the body, then end a multi-process launch cleanly: meet the other ranks, then destroy
    the process group (if one was started).

    Wrap a process's last training run in it. Without the destroy, each rank exits with gloo's
    threads still running, and a rank can abort at exit ("terminate called without an active
    exception"), which fails the whole launch after the work is saved. Destroying right after the
    final barrier is not enough either: gloo closes a rank's connections at once, while a peer may
    still be finishing that barrier (pytorch/gloo#155). So the ranks first meet over the launch's
    key-value store, which is not gloo, and only then tear their connections down. A body that
    raises skips the meeting, since its peers may never arrive.
    """
    import torch.distributed as dist

    try:
        yield
    except BaseException:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        raise
    if dist.is_available() and dist.is_initialized():
        store = dist.distributed_c10d._get_default_store()
        meet_peers(store, dist.get_world_size(), timeout)
        dist.destroy_process_group()


def meet_peers(store: Any, world_size: int, timeout: float) -> bool:
    """Wait on `store` (a torch.distributed Store) until `world_size` callers have arrived, or
    `timeout` seconds pass; whether all arrived. Meant for one meeting per store."""
    from datetime import timedelta

    if store.add(_ARRIVED_KEY, 1) >= world_size:
        store.set(_ALL_ARRIVED_KEY, "1")
    try:
        store.wait([_ALL_ARRIVED_KEY], timedelta(seconds=timeout))
    except RuntimeError:  # torch's DistStoreError: a peer never came; leave anyway
        return False
    return True


def _export(run: _Run) -> None:
    """The final model in out/model, with its EMA weights when it samples with them."""
    swap = run.ema.applied(run.model) if run.ema is not None else contextlib.nullcontext()
    with swap:
        run.model.save(run.out / MODEL)  # medgen.models.io replaces the folder atomically


def _summary(run: _Run, status: str) -> TrainSummary:
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


__all__ = ["NonFiniteLoss", "TrainSummary", "train"]
