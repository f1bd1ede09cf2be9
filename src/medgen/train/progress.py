"""The training progress bar: budget spent, step, loss and images per second (rich, on stderr)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    """Updates the bar and prints notes above it; does nothing when disabled."""

    def __init__(self, bar: Progress | None, console: Console | None) -> None:
        self._bar, self._console = bar, console
        self._task = bar.add_task("train", total=1.0, step=0, info="") if bar else None

    def update(self, fraction: float, step: int, info: str) -> None:
        """Show `fraction` of the budget spent at `step`, with `info` (loss, images/s)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=fraction, step=step, info=info)

    def note(self, message: str) -> None:
        """Print one line (resumed from..., stopped because...)."""
        if self._console is not None:
            self._console.print(message, highlight=False)


@contextlib.contextmanager
def train_progress(enabled: bool) -> Iterator[TrainProgress]:
    """A `TrainProgress`, live only when `enabled` and stderr is a terminal."""
    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        yield TrainProgress(None, None)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("step {task.fields[step]}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        yield TrainProgress(bar, console)


__all__ = ["TrainProgress", "train_progress"]
