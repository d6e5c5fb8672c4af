"""The virtual chip's side of emulated code: where its output goes (queued at the time the
host's bytes arrived), what a new UART divider does to the chip's rate, and the log line when
the code stops. Output goes out as the code writes it, so a greeting or a reply the uploaded
code did not produce cannot appear."""

from __future__ import annotations

import logging
from collections.abc import Callable

from espforge.chips import ChipSpec
from espforge.virtual.cpu import cpu_map_for
from espforge.virtual.cpu.machine import CpuPorts, Machine
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.memory import AddressSpace
from espforge.virtual.spi_flash import SpiFlashDevice

logger = logging.getLogger(__name__)
LAST_ECO = 7  # ESP32-C3 v1.x reports ECO 7 in ROM; v0.N reports N (an assumption, stub.md §7)


def eco_version(identity: ChipIdentity) -> int:
    major, minor = identity.revision
    return LAST_ECO if major >= 1 else minor


class EmulatedCode:
    """Code the host uploaded, running on the chip's emulated CPU."""

    def __init__(
        self,
        chip: ChipSpec,
        identity: ChipIdentity,
        memory: AddressSpace,
        device: SpiFlashDevice,
        output: Callable[[bytes, float], None],
        set_divider: Callable[[int, float], None],
        log: Callable[[str], None],
    ) -> None:
        layout = cpu_map_for(chip)
        if layout is None:
            raise ValueError(f"{chip.chip_name} has no emulated CPU")
        self._output = output
        self._set_divider = set_divider
        self._log = log
        self._now = 0.0
        self._delay_before_run = 0.0
        self._pending = bytearray()
        self._pending_due = 0.0
        ports = CpuPorts(
            device=device,
            registers=memory,
            transmit=self._transmit,
            on_divider=self._divider,
            crystal_hz=identity.crystal_mhz * 1_000_000,
            chip_id=chip.image_chip_id,
            eco_version=eco_version(identity),
        )
        self.machine = Machine(layout, memory, ports)

    @property
    def stopped(self) -> str | None:
        """Why the code no longer runs (None: it runs); the chip is silent then."""
        return self.machine.stopped

    def start(self, entry: int, at: float) -> None:
        self._run(lambda: self.machine.start(entry), at)

    def receive(self, data: bytes, at: float) -> None:
        self._run(lambda: self.machine.receive(data), at)

    def _run(self, step: Callable[[], None], at: float) -> None:
        if self.stopped is not None:
            return
        self._now = at
        self._delay_before_run = self.machine.rom.delayed_seconds
        step()
        self._flush()
        if self.stopped is not None:
            message = f"emulated code stopped: {self.stopped}"
            logger.warning(message)
            self._log(message)

    def _elapsed(self) -> float:
        """Time the code has spent in ets_delay_us since the host's bytes arrived (its own
        instructions are not counted yet)."""
        return self.machine.rom.delayed_seconds - self._delay_before_run

    def _transmit(self, data: bytes) -> None:
        self._pending += data
        self._pending_due = self._now + self._elapsed()

    def _divider(self, divider16: int) -> None:
        self._flush()  # what was written before the change leaves at the old rate
        self._set_divider(divider16, self._now + self._elapsed())

    def _flush(self) -> None:
        if self._pending:
            self._output(bytes(self._pending), self._pending_due)
            self._pending.clear()
