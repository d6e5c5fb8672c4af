"""The registers an emulated flasher stub touches, as the CPU sees them (stub.md §4.2, §4.3):
UART0 with its receive FIFO and interrupt bits, SPI1 running flash commands on the NOR model,
and plain storage for every other peripheral word (the stub reads back what it wrote)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from espforge.virtual.memory import AddressSpace
from espforge.virtual.nor_flash import FlashRangeError
from espforge.virtual.spi_flash import SpiFlashDevice

FIFO_DEPTH = 128  # SOC_UART_FIFO_LEN; STATUS never reports more
RXFIFO_FULL = 1 << 0
RXFIFO_TOUT = 1 << 8

# UART0 register offsets
FIFO, INT_RAW, INT_ST, INT_ENA, INT_CLR, CLKDIV, STATUS, CONF1 = (
    0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x1C, 0x24,
)  # fmt: skip
RXFIFO_THRESHOLD_MASK = 0x1FF  # CONF1 [8:0]

# SPI1 (flash) registers and CMD bits
SPI_CMD, SPI_ADDR, SPI_RD_STATUS = 0x00, 0x04, 0x2C
CMD_WREN, CMD_RDSR, CMD_SE, CMD_BE, CMD_CE = 1 << 30, 1 << 27, 1 << 24, 1 << 23, 1 << 22
SECTOR, BLOCK = 0x1000, 0x10000


class Uart0:
    """UART0: bytes from the host wait in `rx`; bytes the code writes go to `transmit`."""

    def __init__(self, transmit: Callable[[bytes], None], clkdiv: int) -> None:
        self.rx: deque[int] = deque()
        self.transmit = transmit
        self.raw = 0
        self.enabled = 0
        self.clkdiv = clkdiv  # as the ROM left it: set 1 scales it for a new baud
        self.conf1 = 0x60
        self.other: dict[int, int] = {}

    def receive(self, data: bytes) -> None:
        self.rx.extend(data)
        self.raise_rx_interrupts()

    def raise_rx_interrupts(self) -> None:
        """Bytes waiting set the timeout bit (the host has stopped sending by the time the
        code runs); a FIFO at its threshold also sets FIFO-full."""
        if self.rx:
            self.raw |= RXFIFO_TOUT
            if min(len(self.rx), FIFO_DEPTH) >= self.conf1 & RXFIFO_THRESHOLD_MASK:
                self.raw |= RXFIFO_FULL

    def pending_interrupt(self) -> bool:
        return bool(self.raw & self.enabled)

    def pop(self) -> int | None:
        return self.rx.popleft() if self.rx else None

    def read(self, offset: int) -> int:
        if offset == FIFO:
            byte = self.pop()
            return 0 if byte is None else byte
        if offset == INT_RAW:
            return self.raw
        if offset == INT_ST:
            return self.raw & self.enabled
        if offset == INT_ENA:
            return self.enabled
        if offset == CLKDIV:
            return self.clkdiv
        if offset == STATUS:
            return min(len(self.rx), FIFO_DEPTH)  # TX FIFO always empty: output leaves at once
        if offset == CONF1:
            return self.conf1
        return self.other.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        if offset == FIFO:
            self.transmit(bytes([value & 0xFF]))
        elif offset == INT_ENA:
            self.enabled = value
        elif offset == INT_CLR:
            self.raw &= ~value
        elif offset == CLKDIV:
            self.clkdiv = value
        elif offset == CONF1:
            self.conf1 = value
        else:
            self.other[offset] = value


class Spi1:
    """SPI1 as the stubs drive it for erases and status polls: a command bit written to CMD
    runs at once (CMD then reads 0); erases are instant in this slice, so WIP never shows.
    The registers live in the chip's address space, where its SPI controller model runs the
    user-defined transactions (CMD bit USR) that esptool's flash-id read asks for."""

    def __init__(self, device: SpiFlashDevice, registers: AddressSpace, base: int) -> None:
        self.device = device
        self.registers = registers
        self.base = base
        self.write_enabled = False

    def read(self, offset: int) -> int:
        return self.registers.read_word(self.base + offset)

    def write(self, offset: int, value: int) -> None:
        command = offset == SPI_CMD and value & (CMD_WREN | CMD_RDSR | CMD_SE | CMD_BE | CMD_CE)
        if not command:
            self.registers.write_word(self.base + offset, value)
            return
        address = self.read(SPI_ADDR) & 0xFFFFFF
        if value & CMD_WREN:
            self.write_enabled = True
        elif value & CMD_RDSR:
            status = 0x02 if self.write_enabled else 0
            self.registers.seed_word(self.base + SPI_RD_STATUS, status)
        elif self.write_enabled:
            self.write_enabled = False
            self._erase(value, address)
        self.registers.seed_word(self.base + SPI_CMD, 0)  # done

    def _erase(self, command: int, address: int) -> None:
        flash = self.device.flash
        try:
            if command & CMD_CE:
                flash.erase_all()
            elif command & CMD_BE:
                flash.erase(address - address % BLOCK, BLOCK)
            else:
                flash.erase(address - address % SECTOR, SECTOR)
        except FlashRangeError:
            pass  # beyond the chip: dropped
