"""Progress of long operations as a stream of events that any caller can subscribe to.

Each connected chip has its own `ProgressBus`; an event names the device it came from, so one
subscriber can follow several boards flashed at once. The CLI renders events as progress bars;
a GUI or a test subscribes the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """How far one operation (a write, a read, a dump...) has got."""

    operation: str  # "write", "read", "verify", "erase", "dump-mem", "load-ram"
    description: str  # what it is doing now, e.g. "Writing at 0x00012000"
    done: int  # units done so far (bytes, or segments for load-ram)
    total: int
    elapsed: float  # seconds since the operation started
    device: str = ""  # the port of the board reporting it

    @property
    def finished(self) -> bool:
        return self.done >= self.total

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

    def __init__(self, device: str = "") -> None:
        self.device = device
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

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

    def task(self, operation: str, total: int, description: str = "") -> ProgressTask:
        """A new operation of `total` units; it announces itself at 0 done."""
        return ProgressTask(self, operation, total, description)


class ProgressTask:
    """One operation reporting on a bus: started on creation, advanced as work is done."""

    def __init__(self, bus: ProgressBus, operation: str, total: int, description: str) -> None:
        self._bus = bus
        self.operation = operation
        self.total = total
        self.done = 0
        self._started = time.monotonic()
        self._publish(description)

    def advance(self, amount: int, description: str) -> None:
        self.update(self.done + amount, description)

    def update(self, done: int, description: str) -> None:
        self.done = min(done, self.total)
        self._publish(description)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _publish(self, description: str) -> None:
        self._bus.publish(
            ProgressEvent(
                operation=self.operation,
                description=description,
                done=self.done,
                total=self.total,
                elapsed=self.elapsed,
                device=self._bus.device,
            )
        )
