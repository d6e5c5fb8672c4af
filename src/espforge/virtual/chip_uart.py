"""The virtual chip's UART: the host's rate as it changes, the chip's own rate and divider,
and output queued with the time it is due (throttled to the baud rate when the link model
says so, garbled when the two sides' rates differ)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from espforge.chips import ChipSpec
from espforge.virtual.chip_options import ChipOptions
from espforge.virtual.faults import FaultPlan
from espforge.virtual.identity import ChipIdentity, uart_divider
from espforge.virtual.memory import AddressSpace

HOST_BAUD_HISTORY = 8  # host rate changes remembered, for output still on its way
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


@dataclass
class Chunk:
    due: float
    data: bytes
    baud: int  # the chip's UART rate when it sent them


# A receiver samples each bit mid-way: over a 10-bit frame its clock may differ from the
# sender's by under half a bit (5 %); beyond a little less than that, bytes come out as garbage.
BAUD_TOLERANCE = 0.04
# What a byte sent at one rate reads as at another: a fixed scramble (a permutation, so that
# lengths stay and nothing can be recovered by luck).
_GARBLED = bytes((value * 97 + 0x35) & 0xFF for value in range(256))


class ChipUart:
    """The UART side of `VirtualChip` (in `chip`): what the host's and the chip's rates are,
    and the output on its way to the host."""

    chip: ChipSpec
    identity: ChipIdentity
    options: ChipOptions
    memory: AddressSpace
    clock: Callable[[], float]
    baud: int
    _autobaud: bool
    _lock: threading.RLock
    _host_bauds: list[tuple[float, int]]
    _host_traffic: bool
    _output: deque[Chunk]
    _output_free: float
    _faults: FaultPlan | None

    def set_host_baud(self, baud: int | None) -> None:
        """The rate the host's UART runs at from now on (None: not known, never checked)."""
        with self._lock:
            if baud is None:
                self._host_bauds.clear()
            elif self._host_bauds and not self._host_traffic:
                # A rate nothing crossed the link at (a port opened at pyserial's default,
                # then set) counts for nothing.
                self._host_bauds[-1] = (self._host_bauds[-1][0], baud)
            elif not self._host_bauds or self._host_bauds[-1][1] != baud:
                self._host_bauds.append((self.clock(), baud))
                del self._host_bauds[:-HOST_BAUD_HISTORY]
            self._host_traffic = False

    def host_baud_at(self, when: float) -> int | None:
        """The host's rate at `when` on the chip's clock (None: not known)."""
        rate = None
        for since, baud in self._host_bauds:
            if since > when:
                break
            rate = baud
        if rate is None and self._host_bauds:
            rate = self._host_bauds[0][1]  # before the first we heard of: the port's rate
        return rate

    def discard_output(self) -> None:
        """Forget output that is already due (the host flushed its input buffer)."""
        with self._lock:
            now = self.clock()
            while self._output and self._output[0].due <= now:
                self._output.popleft()

    def _follow_host_baud(self, host: int | None) -> None:
        """The ROM's download mode measures the host's rate from what it sends (auto-baud)."""
        if self._autobaud and host is not None and host != self.baud:
            self.baud = host
            self._set_uart_divider()

    @staticmethod
    def _same_rate(host: int | None, chip: int) -> bool:
        return host is None or abs(host - chip) <= BAUD_TOLERANCE * chip

    def _as_host_hears(self, chunk: Chunk) -> bytes:
        if self._same_rate(self.host_baud_at(chunk.due), chunk.baud):
            return chunk.data
        return chunk.data.translate(_GARBLED)

    def _set_uart_divider(self) -> None:
        divider = uart_divider(self.chip, self.identity.crystal_mhz, self.baud)
        self.memory.seed_word(self.chip.uart_clkdiv_reg, divider)

    def _byte_time(self, count: int) -> float:
        return count * BITS_PER_BYTE / self.baud

    def _emit_text(self, text: str, at: float) -> None:
        self._queue(text.encode("ascii"), at)

    def _emit(self, frame: bytes, due: float, opcode: int) -> None:
        faults = self._faults
        if faults is not None and faults.applies_to(opcode):
            if faults.roll(faults.drop):
                return
            if faults.roll(faults.corrupt):
                frame = faults.corrupt_packet(frame)
            if faults.roll(faults.delay):
                due += faults.delay_seconds
        self._queue(frame, due)

    def _queue(self, data: bytes, due: float) -> None:
        if self._output:
            due = max(due, self._output[-1].due)  # a byte stream: nothing overtakes
        if self.options.link.throttle:
            start = max(due, self._output_free)
            due = start + self._byte_time(len(data))
            self._output_free = due
        self._output.append(Chunk(due, data, self.baud))
