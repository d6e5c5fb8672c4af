"""Progress of the device commands: the flash layer's progress events, shown as bars on a
terminal and as plain lines elsewhere.

Only the operations whose `Operation.drawn` says so are shown, and nothing with --silent or
--no-progress. A renderer is any subscriber of the device's `ProgressBus` (a callable taking a
`ProgressEvent`); `show_progress` picks one by whether stdout is a terminal:

- `ProgressBars` (a terminal): a rich bar per task, with the rate and the time left, gone when
  its task ends. While bars are drawn every line the command prints goes through the bars'
  console (`framework.lines_to`), which prints it above them: no bar is left glued to a line.
- `ProgressLines` (an IDE output pane, a CI log, a pipe): a line now and then, in the form
  esptool prints there (`Writing at 0x00014000 ━━━━╸      16.4% 16.00kB/97.66kB [0s] `), at
  least every tenth of the task and every few seconds, each flushed as it comes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import click
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

from espforge.cli.framework import lines_to, output
from espforge.flash.progress import EventKind, ProgressBus, ProgressEvent

# ---------------------------------------------------------------------------- terminal


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
            TextColumn("{task.description}", markup=False),
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
                self.progress.refresh()  # off the screen now, not at the next tick
            return
        bar = self._bars.get(event.task_id)
        if bar is None:
            bar = self.progress.add_task(
                event.description, total=event.total, in_bytes=event.operation.counts_bytes
            )
            self._bars[event.task_id] = bar
        self.progress.update(bar, completed=event.done, description=event.description)

    def print_line(self, line: str, err: bool) -> None:
        """Print a line of the command's output above the bars.

        A line for stderr goes there itself unless stderr is a terminal too (then it is the
        one the bars are drawn on, and written past the console it would land inside a bar).
        """
        if err and not sys.stderr.isatty():
            click.echo(line, err=True)
            return
        self.progress.console.print(
            line, markup=False, highlight=False, emoji=False, soft_wrap=True
        )


# ------------------------------------------------------------------------ not a terminal

_STEPS = 10  # a line at least every tenth of a task ...
_QUIET_SECONDS = 2.0  # ... and every two seconds while it moves
_BAR_WIDTH = 30


@dataclass
class _Shown:
    """What the last line of a task showed."""

    step: int  # tenths done
    done: int
    elapsed: float


class ProgressLines:
    """A renderer that prints `ProgressEvent`s as plain lines, for output that is not a
    terminal; `write` prints one line and flushes it."""

    def __init__(self, write: Callable[[str], None], ascii_only: bool = False) -> None:
        self._write = write
        self._glyphs = ("=", ">") if ascii_only else ("━", "╸")  # as rich draws bars
        self._shown: dict[int, _Shown] = {}  # by the progress task's id

    def __call__(self, event: ProgressEvent) -> None:
        if not event.operation.drawn:
            return
        shown = self._shown.setdefault(event.task_id, _Shown(0, 0, 0.0))
        if event.kind.ends_task:
            del self._shown[event.task_id]
            # A finished task ends on its last state; a failed or skipped one says so itself.
            if event.kind is EventKind.FINISHED and event.done != shown.done:
                self._write(progress_line(event, self._glyphs))
            return
        if event.kind is EventKind.PROGRESS and self._due(event, shown):
            self._write(progress_line(event, self._glyphs))
            shown.step, shown.done, shown.elapsed = _step(event), event.done, event.elapsed

    @staticmethod
    def _due(event: ProgressEvent, shown: _Shown) -> bool:
        if event.done == shown.done:
            return False
        return (
            event.done >= event.total
            or _step(event) > shown.step
            or event.elapsed - shown.elapsed >= _QUIET_SECONDS
        )


def _step(event: ProgressEvent) -> int:
    return event.done * _STEPS // event.total if event.total > 0 else _STEPS


def progress_line(event: ProgressEvent, glyphs: tuple[str, str] = ("━", "╸")) -> str:
    """`event` as one line the way esptool prints progress off a terminal:
    `{description} {bar} {percent}% {done}/{total} [{elapsed}] `."""
    done, total = event.done, event.total
    percent = 100 * done / total if total > 0 else 100.0
    count = _size if event.operation.counts_bytes else str
    return (
        f"{event.description} {_bar(done, total, glyphs)} {percent:5.1f}% "
        f"{count(done)}/{count(total)} [{_duration(event.elapsed)}] "
    )


def _bar(done: int, total: int, glyphs: tuple[str, str]) -> str:
    """A bar of fixed width, in half-glyph steps, padded with spaces."""
    full, half = glyphs
    if total <= 0 or done >= total:
        return full * _BAR_WIDTH
    whole, has_half = divmod(2 * _BAR_WIDTH * max(0, done) // total, 2)
    return (full * whole + half * has_half).ljust(_BAR_WIDTH)


def _size(count: int) -> str:
    """A byte count as esptool's progress shows it: 1024-based, kB/MB/GB, two decimals."""
    if count < 1024:
        return f"{count}B"
    size = count / 1024
    for unit in ("kB", "MB"):
        if size < 1024:
            return f"{size:.2f}{unit}"
        size /= 1024
    return f"{size:.2f}GB"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


# ------------------------------------------------------------------------- choosing


@contextmanager
def show_progress(
    bus: ProgressBus, enabled: bool, console: Console | None = None
) -> Iterator[None]:
    """Show `bus`'s events while the block runs, if `enabled`: bars on a terminal, lines
    elsewhere."""
    if not enabled:
        yield
        return
    console = console or Console()
    with ExitStack() as shown:
        renderer: Callable[[ProgressEvent], None]
        if console.is_terminal:
            renderer = bars = ProgressBars(console)
            shown.enter_context(bars.progress)
            shown.enter_context(lines_to(bars.print_line))
        else:
            renderer = ProgressLines(output, ascii_only=not console.encoding.startswith("utf"))
        shown.callback(bus.subscribe(renderer))
        yield
