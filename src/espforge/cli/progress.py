"""Progress bars for the device commands: the flash layer's progress events drawn with rich.

A bar shows the operation's description, how far it is, the rate and the time left. Bars are
only drawn on a terminal (piped output and logs stay clean), and never with --silent or
--no-progress; a finished bar disappears so that the summary line printed next stands alone.
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

# Operations worth a bar; erase and verify are single commands the chip works on silently.
DRAWN_OPERATIONS = ("write", "read", "dump-mem", "load-ram")
COUNTED_IN_BYTES = ("write", "read", "dump-mem")


class _RateColumn(ProgressColumn):
    """Bytes per second for byte-counted operations, nothing for the others."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("in_bytes") or task.speed is None:
            return Text("")
        return Text(f"{decimal(int(task.speed))}/s", style="progress.data.speed")


class ProgressBars:
    """A subscriber that turns `ProgressEvent`s into rich progress bars, one per operation."""

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
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.operation not in DRAWN_OPERATIONS:
            return
        key = (event.device, event.operation)
        task = self._tasks.get(key)
        if task is None:
            task = self.progress.add_task(
                event.description,
                total=event.total,
                in_bytes=event.operation in COUNTED_IN_BYTES,
            )
            self._tasks[key] = task
        self.progress.update(task, completed=event.done, description=event.description)
        if event.finished:
            self.progress.remove_task(task)
            del self._tasks[key]


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
