"""The per-epoch progress display: one rich bar per epoch, or nothing in quiet mode.

This is the only place the trainer writes to the terminal.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["EpochProgress", "make_progress"]


class EpochProgress:
    """Silent base: quiet mode (search workers) uses it as is."""

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        """A new bar of ``steps`` batches for epoch ``epoch`` (1-based) of ``epochs``."""

    def update(self, done: int, loss: float, accuracy: float, images_per_s: float) -> None:
        """``done`` batches finished; running training loss and accuracy."""

    def end_epoch(self, summary: str) -> None:
        """Replace the running figures with the epoch's summary (validation metrics)."""


class _RichProgress(EpochProgress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            refresh_per_second=4,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> EpochProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        width = len(str(epochs))
        self._task = self._progress.add_task(
            f"epoch {epoch:>{width}}/{epochs}", total=steps, stats=""
        )

    def update(self, done: int, loss: float, accuracy: float, images_per_s: float) -> None:
        assert self._task is not None
        stats = f"loss {loss:.3f} acc {accuracy:6.1%} {images_per_s:,.0f} img/s"
        self._progress.update(self._task, completed=done, stats=stats)

    def end_epoch(self, summary: str) -> None:
        assert self._task is not None
        self._progress.update(self._task, stats=summary)
        self._progress.refresh()


def make_progress(enabled: bool) -> EpochProgress:
    """A rich display on stderr when ``enabled``, else a silent one."""
    return _RichProgress() if enabled else EpochProgress()
