"""The SPI NOR flash chip behind the virtual chip, and the SPI controller that drives it.

Hosts run raw flash commands (read id, status registers, SFDP) by programming the chip's SPI
controller registers with WRITE_REG and starting a "user" transaction; this module carries out
such a transaction against a flash device modelled on a common 3.3 V SPI NOR part.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from espforge.chips.base import (
    SPI_CMD_USR,
    SPI_USR1_ADDR_LEN_SHIFT,
    SPI_USR1_LEGACY_MISO_BITLEN_SHIFT,
    SPI_USR1_LEGACY_MOSI_BITLEN_SHIFT,
    SPI_USR_ADDR,
    SPI_USR_MISO,
    SPI_USR_MOSI,
    SpiRegisters,
)
from espforge.virtual.memory import AddressSpace
from espforge.virtual.nor_flash import ERASED, FlashRangeError, NorFlash

# Flash opcodes the device answers (JEDEC/SFDP standard ones).
WRITE_STATUS = 0x01
READ_DATA = 0x03
WRITE_DISABLE = 0x04
READ_STATUS = 0x05
WRITE_ENABLE = 0x06
WRITE_STATUS_3 = 0x11
READ_STATUS_3 = 0x15
WRITE_STATUS_2 = 0x31
READ_STATUS_2 = 0x35
VOLATILE_STATUS_WRITE_ENABLE = 0x50
READ_SFDP = 0x5A
READ_JEDEC_ID = 0x9F

STATUS_WRITE_ENABLE_LATCH = 0x02
STATUS_READ_ONLY_SR1 = 0x03  # busy, write enable latch
DATA_REGISTERS = 16  # W0..W15: 64 bytes of data in or out


@dataclass(frozen=True)
class FlashIdentity:
    """The JEDEC id a flash answers: manufacturer, memory type and a capacity code."""

    manufacturer: int = 0xEF  # Winbond
    memory_type: int = 0x40

    @staticmethod
    def capacity_code(size: int) -> int:
        """The JEDEC capacity byte: log2 of the size in bytes (0x16 for 4 MB)."""
        return size.bit_length() - 1


class SpiFlashDevice:
    """A NOR flash chip: data array, status registers, JEDEC id and SFDP table."""

    def __init__(self, flash: NorFlash, identity: FlashIdentity = FlashIdentity()) -> None:
        self.flash = flash
        self.identity = identity
        self._status = [0x00, 0x02, 0x60]  # SR1..SR3 as a W25Q part leaves the factory
        self._volatile = list(self._status)
        self._write_enabled = False
        self._volatile_write_enabled = False
        self._sfdp = self._sfdp_table()

    def power_cycle(self) -> None:
        """A chip reset: volatile status bits return to their stored values."""
        self._volatile = list(self._status)
        self._write_enabled = self._volatile_write_enabled = False

    @property
    def jedec_id(self) -> bytes:
        capacity = FlashIdentity.capacity_code(self.flash.size)
        return bytes([self.identity.manufacturer, self.identity.memory_type, capacity])

    def status(self, index: int) -> int:
        value = self._volatile[index]
        if index == 0 and self._write_enabled:
            value |= STATUS_WRITE_ENABLE_LATCH
        return value

    def transaction(self, opcode: int, address: int | None, mosi: bytes, miso_length: int) -> bytes:
        """Run one command: `mosi` bytes sent after the address, `miso_length` bytes answered."""
        if opcode == READ_JEDEC_ID:
            answer = self.jedec_id
        elif opcode in (READ_STATUS, READ_STATUS_2, READ_STATUS_3):
            answer = bytes([self.status((READ_STATUS, READ_STATUS_2, READ_STATUS_3).index(opcode))])
        elif opcode == READ_SFDP and address is not None:
            answer = self._sfdp[address : address + miso_length]
        elif opcode == READ_DATA and address is not None:
            answer = self._read_data(address, miso_length)
        else:
            self._control(opcode, mosi)
            answer = b""
        # Past the end of an answer the data line floats high.
        return answer[:miso_length].ljust(miso_length, bytes([ERASED]))

    def _read_data(self, address: int, length: int) -> bytes:
        try:
            return self.flash.read(address % self.flash.size, length)
        except FlashRangeError:
            return bytes([ERASED]) * length

    def _control(self, opcode: int, data: bytes) -> None:
        if opcode == WRITE_ENABLE:
            self._write_enabled = True
        elif opcode == VOLATILE_STATUS_WRITE_ENABLE:
            self._volatile_write_enabled = True
        elif opcode == WRITE_DISABLE:
            self._write_enabled = self._volatile_write_enabled = False
        elif opcode in (WRITE_STATUS, WRITE_STATUS_2, WRITE_STATUS_3) and data:
            first = (WRITE_STATUS, WRITE_STATUS_2, WRITE_STATUS_3).index(opcode)
            self._write_status(first, data)
        # Other commands (reset, power-down, release) leave nothing to model.

    def _write_status(self, first: int, data: bytes) -> None:
        """WRSR writes SR1 (and SR2 with a second byte); needs WREN or the volatile enable."""
        if not (self._write_enabled or self._volatile_write_enabled):
            return
        for index, value in enumerate(data[: 3 - first], start=first):
            # SR1's busy and write-enable-latch bits are the device's, not writable.
            self._volatile[index] = value & ~STATUS_READ_ONLY_SR1 if index == 0 else value
            if self._write_enabled:
                self._status[index] = self._volatile[index]
        self._write_enabled = self._volatile_write_enabled = False

    def _sfdp_table(self) -> bytes:
        """A JEDEC SFDP table: header, two parameter headers, the basic flash parameters."""
        table = bytearray(b"\xff" * 0x100)
        table[0:8] = b"SFDP" + bytes([0x06, 0x01, 0x01, 0xFF])
        table[8:16] = bytes([0x00, 0x06, 0x01, 0x10, 0x80, 0x00, 0x00, 0xFF])
        table[16:24] = bytes([self.identity.manufacturer, 0x00, 0x01, 0x03, 0xD0, 0x00, 0x00, 0xFF])
        density_bits = self.flash.size * 8 - 1
        basic = [0xFFF920E5, density_bits, 0x6B08EB44, 0xBB423B08, 0xFFFFFFFE, 0xFF00FFFF]
        basic += [0xEB40FFFF, 0x520F200C, 0x00FFD810, 0, 0, 0, 0, 0, 0, 0]
        table[0x80 : 0x80 + 64] = struct.pack("<16I", *basic)
        return bytes(table)


class SpiController:
    """The chip's SPI flash controller registers, wired to a flash device.

    Writing SPI_CMD_USR to the CMD register runs the transaction described by USR (which
    phases), USR1 (address and, on ESP8266, data lengths), USR2 (opcode), ADDR, MOSI/MISO_DLEN
    and W0..W15; the answer lands in W0.. and the CMD bit clears, as the hardware does.
    """

    def __init__(self, registers: SpiRegisters, memory: AddressSpace, flash: SpiFlashDevice):
        self.registers = registers
        self.memory = memory
        self.flash = flash
        memory.on_write(registers.cmd_reg, self._command_written)

    def _command_written(self, address: int, value: int) -> None:
        if value & SPI_CMD_USR:
            self._run()
            self.memory.seed_word(address, value & ~SPI_CMD_USR)

    def _run(self) -> None:
        regs, memory = self.registers, self.memory
        usr = memory.read_word(regs.usr_reg)
        usr1 = memory.read_word(regs.usr1_reg)
        opcode = memory.read_word(regs.usr2_reg) & 0xFF
        mosi_bits, miso_bits = self._data_bits(usr, usr1)
        address = None
        if usr & SPI_USR_ADDR:
            address = self._address(memory.read_word(regs.addr_reg), usr1)
        mosi = memory.read_bytes(regs.w0_reg, (mosi_bits + 7) // 8)
        answer = self.flash.transaction(opcode, address, mosi, (miso_bits + 7) // 8)
        if answer:
            padded = answer + bytes(-len(answer) % 4)
            for index in range(0, min(len(padded), DATA_REGISTERS * 4), 4):
                word = int.from_bytes(padded[index : index + 4], "little")
                memory.seed_word(regs.w0_reg + index, word)

    def _data_bits(self, usr: int, usr1: int) -> tuple[int, int]:
        """(MOSI bits, MISO bits) of the transaction, 0 for a phase USR leaves out."""
        regs, memory = self.registers, self.memory
        if regs.mosi_dlen_offs is not None and regs.miso_dlen_offs is not None:
            mosi = (memory.read_word(regs.base + regs.mosi_dlen_offs) & 0xFFFFFF) + 1
            miso = (memory.read_word(regs.base + regs.miso_dlen_offs) & 0xFFFFFF) + 1
        else:
            mosi = ((usr1 >> SPI_USR1_LEGACY_MOSI_BITLEN_SHIFT) & 0x1FF) + 1
            miso = ((usr1 >> SPI_USR1_LEGACY_MISO_BITLEN_SHIFT) & 0x1FF) + 1
        return (mosi if usr & SPI_USR_MOSI else 0), (miso if usr & SPI_USR_MISO else 0)

    def _address(self, register: int, usr1: int) -> int:
        bits = ((usr1 >> SPI_USR1_ADDR_LEN_SHIFT) & 0x3F) + 1
        if self.registers.addr_msb_aligned:
            return register >> (32 - bits)
        return register & ((1 << bits) - 1)
