"""Progress bars for the device commands: the flash layer's progress events drawn with rich.

A bar shows the operation's description, how far it is, the rate and the time left; only the
operations whose `Operation.drawn` says so get one. Bars are only drawn on a terminal (piped
output and logs stay clean), and never with --silent or --no-progress; a bar disappears when its
task ends (finished, failed or skipped) so that the line printed next stands alone.

A renderer is any subscriber of the device's `ProgressBus` (a callable taking a
`ProgressEvent`); `ProgressBars` is the one for a terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from espforge.flash.progress import ProgressBus, ProgressEvent


class _RateColumn(ProgressColumn):
    """Bytes per second for byte-counted operations, nothing for the others."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("in_bytes") or task.speed is None:
            return Text("")
        return Text(f"{decimal(int(task.speed))}/s", style="progress.data.speed")


class ProgressBars:
    """A renderer that turns `ProgressEvent`s into rich progress bars, one per task."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            _RateColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._bars: dict[int, TaskID] = {}  # by the progress task's id

    def __call__(self, event: ProgressEvent) -> None:
        if not event.operation.drawn:
            return
        if event.kind.ends_task:
            ended = self._bars.pop(event.task_id, None)
            if ended is not None:
                self.progress.remove_task(ended)
            return
        bar = self._bars.get(event.task_id)
        if bar is None:
            bar = self.progress.add_task(
                event.description, total=event.total, in_bytes=event.operation.counts_bytes
            )
            self._bars[event.task_id] = bar
        self.progress.update(bar, completed=event.done, description=event.description)


@contextmanager
def progress_bars(
    bus: ProgressBus, enabled: bool, console: Console | None = None
) -> Iterator[None]:
    """Draw `bus`'s events as bars while the block runs, if `enabled` and on a terminal."""
    console = console or Console()
    if not enabled or not console.is_terminal:
        yield
        return
    bars = ProgressBars(console)
    unsubscribe = bus.subscribe(bars)
    try:
        with bars.progress:
            yield
    finally:
        unsubscribe()
