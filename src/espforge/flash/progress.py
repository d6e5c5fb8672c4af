"""Progress of long operations as a stream of typed events that any caller can subscribe to.

Each connected chip has its own `ProgressBus`. An operation reports through a `ProgressTask`,
used as a context manager:

    with device.progress.task(Operation.WRITE, len(data), "Writing at 0x00010000") as task:
        ...
        task.advance(len(block), f"Writing at {address:#010x}")

Every task goes through one lifecycle, each step an event: STARTED on entering the block, any
number of PROGRESS events, then exactly one of FINISHED (the block ended normally), FAILED (an
exception left it; the exception carries on) or SKIPPED (`task.skip(reason)`). Every task has an
id of its own, so an operation tried again is a new task. An event names the board it came from
(its port and, once identified, its chip), so one subscriber can follow several boards flashed
at once. Renderers - the CLI's progress bars, a GUI, a test - are subscribers: callables taking
an event.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from types import TracebackType


class Operation(Enum):
    """A long operation that reports progress, and how a renderer should show it."""

    drawn: bool  # worth a progress bar (single commands the chip works on alone are not)
    counts_bytes: bool  # its units are bytes (else e.g. segments), so a rate means something

    #          value       drawn  counts_bytes
    WRITE = "write", True, True
    READ = "read", True, True
    VERIFY = "verify", False, True
    ERASE = "erase", False, True
    DUMP_MEM = "dump-mem", True, True
    LOAD_RAM = "load-ram", True, False  # counts segments

    def __new__(cls, value: str, drawn: bool, counts_bytes: bool) -> Operation:
        member = object.__new__(cls)
        member._value_ = value
        member.drawn = drawn
        member.counts_bytes = counts_bytes
        return member

    def __str__(self) -> str:
        return self.value


class EventKind(Enum):
    """Where in its lifecycle a task is."""

    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def ends_task(self) -> bool:
        """No event of the same task follows this one."""
        return self in (EventKind.FINISHED, EventKind.FAILED, EventKind.SKIPPED)


@dataclass(frozen=True)
class DeviceIdentity:
    """What is known of the board an event comes from."""

    port: str  # the port it is connected on, e.g. "/dev/ttyUSB0"
    chip: str | None = None  # its chip as esptool names it ("ESP32-C3"), once identified


@dataclass(frozen=True)
class ProgressEvent:
    """One step in the lifecycle of a task: how far an operation has got, and on which board."""

    kind: EventKind
    task_id: int  # unique per task, also across boards
    operation: Operation
    description: str  # what it is doing now, e.g. "Writing at 0x00012000"
    done: int  # units done so far (bytes, or segments for load-ram)
    total: int
    elapsed: float  # seconds since the task started
    device: DeviceIdentity
    reason: str = ""  # why a task was skipped or failed

    @property
    def rate(self) -> float | None:
        """Units per second so far, or None before any time has passed."""
        return self.done / self.elapsed if self.elapsed > 0 else None

    @property
    def remaining(self) -> float | None:
        """Estimated seconds left at the rate so far, or None when it cannot be told yet."""
        rate = self.rate
        if not rate:
            return None
        return max(0, self.total - self.done) / rate


Subscriber = Callable[[ProgressEvent], None]


class ProgressBus:
    """Delivers a device's progress events to every subscriber, in subscription order."""

    def __init__(self, port: str = "") -> None:
        self.identity = DeviceIdentity(port)
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def identify(self, chip: str) -> None:
        """Name the chip in the events from now on (known once connected)."""
        self.identity = replace(self.identity, chip=chip)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Start delivering events to `subscriber`; call the returned function to stop."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: ProgressEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)

    def task(self, operation: Operation, total: int, description: str = "") -> ProgressTask:
        """A new task of `total` units, to use as a context manager (see the module's doc)."""
        return ProgressTask(self, operation, total, description)


_task_ids = itertools.count(1)  # next() on a count is atomic under the GIL


class ProgressTask:
    """One operation reporting on a bus, from entering its `with` block to leaving it."""

    def __init__(
        self, bus: ProgressBus, operation: Operation, total: int, description: str
    ) -> None:
        self.id = next(_task_ids)
        self.operation = operation
        self.total = total
        self.done = 0
        self._bus = bus
        self._description = description
        self._started: float | None = None
        self._ended = False

    def __enter__(self) -> ProgressTask:
        self._started = time.monotonic()
        self._publish(EventKind.STARTED)
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._ended:  # skipped
            return
        if error is None:
            self._end(EventKind.FINISHED)
        else:
            self._end(EventKind.FAILED, str(error) or type(error).__name__)

    def advance(self, amount: int, description: str) -> None:
        self.update(self.done + amount, description)

    def update(self, done: int, description: str) -> None:
        self.done = min(done, self.total)
        self._description = description
        self._publish(EventKind.PROGRESS)

    def skip(self, reason: str) -> None:
        """End the task without doing (the rest of) it; leaving the block adds nothing."""
        self._end(EventKind.SKIPPED, reason)

    @property
    def elapsed(self) -> float:
        if self._started is None:
            raise RuntimeError("a progress task reports only inside its `with` block")
        return time.monotonic() - self._started

    def _end(self, kind: EventKind, reason: str = "") -> None:
        self._publish(kind, reason)
        self._ended = True

    def _publish(self, kind: EventKind, reason: str = "") -> None:
        if self._ended:
            raise RuntimeError(f"{self.operation} task {self.id} has ended and reports no more")
        self._bus.publish(
            ProgressEvent(
                kind=kind,
                task_id=self.id,
                operation=self.operation,
                description=self._description,
                done=self.done,
                total=self.total,
                elapsed=self.elapsed,
                device=self._bus.identity,
                reason=reason,
            )
        )
