"""Reading SLIP frames from a serial port with deadlines, keeping what the chip printed."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from serial import SerialException

from espforge.errors import PortError
from espforge.link.slip import SlipDecoder, slip_encode

POLL_INTERVAL = 0.02  # the port's read timeout: how often a silent wait checks its deadline
OUTPUT_KEPT = 16 * 1024  # bytes of chip output kept for connection diagnostics

Trace = Callable[[str], None]


def port_failure(port, error: Exception) -> PortError:
    """pyserial's or the OS's error on a port in use, as one clear line."""
    return PortError(
        f"the serial port {getattr(port, 'port', '')} failed ({error}): was the board unplugged "
        "or reset? Reconnect it and try again",
        "lost",
    )


@contextmanager
def port_errors(port) -> Iterator[None]:
    """A port that fails mid-session (unplugged, reset over USB) raises PortError, never
    pyserial's own exceptions: layers above link/ know only espforge's errors."""
    try:
        yield
    except (SerialException, OSError) as error:
        raise port_failure(port, error) from None


class FrameLink:
    """Frames in both directions over an open pyserial port.

    Bytes outside frames (boot messages, an application's output, line noise) are collected
    in `chip_output`, bounded to the most recent `OUTPUT_KEPT` bytes.
    """

    def __init__(self, port, trace: Trace | None = None) -> None:
        self.port = port
        self.trace = trace
        self.chip_output = bytearray()
        self.output_total = 0  # bytes ever added to chip_output, to find what came since a mark
        self._decoder = SlipDecoder()
        self._frames: deque[bytes] = deque()
        self.port.timeout = POLL_INTERVAL

    def write_frame(self, payload: bytes) -> None:
        data = slip_encode(payload)
        if self.trace:
            self.trace(f"write {len(data)} bytes: {data.hex(' ')}")
        with port_errors(self.port):
            self.port.write(data)

    def read_frame(self, timeout: float) -> bytes | None:
        """The next frame, or None when none is complete within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self._frames:
            if not self._receive(deadline):
                return None
        return self._frames.popleft()

    def _receive(self, deadline: float) -> bool:
        """Feed whatever arrives before `deadline` to the decoder; False once it has passed."""
        while True:
            with port_errors(self.port):
                data = self.port.read(self.port.in_waiting or 1)
            if data:
                self._feed(data)
                return True
            if time.monotonic() >= deadline:
                return False

    def _feed(self, data: bytes) -> None:
        if self.trace:
            self.trace(f"read {len(data)} bytes: {data.hex(' ')}")
        self._frames.extend(self._decoder.feed(data))
        noise = self._decoder.take_noise()
        if noise:
            self.chip_output += noise
            self.output_total += len(noise)
            del self.chip_output[:-OUTPUT_KEPT]

    def read_for(self, duration: float) -> list[bytes]:
        """Every frame that arrives during `duration` seconds (noise goes to `chip_output`)."""
        deadline = time.monotonic() + duration
        while self._receive(deadline):
            pass
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def read_waiting(self) -> None:
        """Take in whatever bytes have already arrived, without waiting."""
        with port_errors(self.port):
            waiting = self.port.in_waiting
            data = self.port.read(waiting) if waiting else b""
        if data:
            self._feed(data)

    def set_baudrate(self, baud: int) -> None:
        with port_errors(self.port):
            self.port.baudrate = baud

    def reset_output(self) -> None:
        """Drop bytes not yet sent."""
        with port_errors(self.port):
            self.port.reset_output_buffer()

    def reopen(self) -> None:
        """Close and open the port again (after it failed, e.g. a USB port re-enumerated)."""
        with port_errors(self.port):
            self.port.close()
            self.port.open()

    def discard_input(self) -> None:
        """Forget pending frames and any half-received one; what arrived outside frames is kept
        in `chip_output` for diagnostics."""
        self.read_waiting()
        self._decoder = SlipDecoder()
        self._frames.clear()

    def output_since(self, mark: int) -> bytes:
        """What the chip printed since `output_total` was `mark` (as much as is still kept)."""
        count = self.output_total - mark
        return bytes(self.chip_output[-count:]) if count > 0 else b""

    def take_chip_output(self) -> bytes:
        output = bytes(self.chip_output)
        self.chip_output.clear()
        return output
