"""How much a flasher stub can take in while it works: the receive side of esptool's legacy
stub (esptool-legacy-flasher-stub), applied whatever stub file was uploaded.

The stub receives by interrupt into two frame buffers in turn and hands each completed frame to
its main loop through a single slot. The main loop answers a data block as soon as it takes it,
then decompresses and writes it from its buffer. So a host may have one frame arriving while
the stub works on another, and no more: a third frame either starts filling the buffer of a
block still being written, or completes while the slot still holds a command not yet taken.
esptool waits for each answer before sending its next frame, which never does either. Read
acknowledgements are not counted: the stub polls for them while it streams a read.

A real stub then writes garbage or drops a command; the virtual one stops answering, so that a
client that sends too far ahead fails loudly instead of passing against the virtual chip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from espforge.protocol.commands import Opcode

# Commands whose handler reads its frame buffer after answering (the data it writes or loads).
BUFFER_READERS = frozenset(
    {Opcode.FLASH_DATA, Opcode.FLASH_DEFL_DATA, Opcode.FLASH_ENCRYPT_DATA, Opcode.MEM_DATA}
)


@dataclass
class StubReceiver:
    """The stub's two frame buffers and its command slot, on the chip's clock."""

    held_until: list[float] = field(default_factory=lambda: [0.0, 0.0])
    filling: int = 0  # the buffer the next frame goes into
    taken_at: float = 0.0  # when the main loop takes the command now in the slot
    overrun: bool = False  # once True, the stub no longer answers

    def admit(self, first_byte: float, last_byte: float) -> bool:
        """Whether a frame arriving over [first_byte, last_byte] is received intact."""
        buffer, self.filling = self.filling, self.filling ^ 1
        if first_byte < self.held_until[buffer] or last_byte < self.taken_at:
            self.overrun = True
        return not self.overrun

    def record(self, opcode: int, start: float, end: float) -> None:
        """The admitted frame was taken at `start` and its handler finished at `end`."""
        buffer = self.filling ^ 1
        self.held_until[buffer] = end if opcode in BUFFER_READERS else start
        self.taken_at = start
