"""Raw SPI flash commands through the flash controller's "user command" registers.

The ROM protocol has no command for arbitrary SPI flash operations, so hosts program the chip's
SPI controller with register writes: which phases the transaction has (command, address, dummy
cycles, data out, data in), their lengths, the opcode and data; then start it and read the
answer back from the data buffer. Register layouts come from the chip's `SpiRegisters`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from espforge.chips.base import (
    SPI_CMD_USR,
    SPI_USR1_ADDR_LEN_SHIFT,
    SPI_USR1_LEGACY_MISO_BITLEN_SHIFT,
    SPI_USR1_LEGACY_MOSI_BITLEN_SHIFT,
    SPI_USR2_COMMAND_LEN_SHIFT,
    SPI_USR_ADDR,
    SPI_USR_COMMAND,
    SPI_USR_DUMMY,
    SPI_USR_MISO,
    SPI_USR_MOSI,
)
from espforge.errors import EspforgeError, ProtocolError

if TYPE_CHECKING:
    from espforge.chips import ChipSpec

SPI_COMMAND_POLLS = 10  # READ_REGs of the SPI CMD register before a command counts as stuck

SPIFLASH_RDID = 0x9F
SPIFLASH_RDSR = (0x05, 0x35, 0x15)  # status register bytes 1, 2, 3
SPIFLASH_WRSR = (0x01, 0x31, 0x11)
SPIFLASH_WREN = 0x06
SPIFLASH_WEVSR = 0x50  # write enable for the volatile status bits only
SPIFLASH_WRDI = 0x04
SPIFLASH_RDSFDP = 0x5A


class SpiFlashCommands:
    """Raw SPI flash commands for a class that reads and writes the chip's registers."""

    chip: ChipSpec
    _flash_id: int | None

    def read_reg(self, address: int, timeout: float | None = None) -> int:
        raise NotImplementedError

    def write_reg(
        self, address: int, value: int, mask: int = 0xFFFFFFFF, delay_us: int = 0
    ) -> None:
        raise NotImplementedError

    def _refuse_in_secure_mode(self, operation: str) -> None:
        raise NotImplementedError

    def run_spiflash_command(
        self,
        command: int,
        data: bytes = b"",
        read_bits: int = 0,
        address: int | None = None,
        address_bits: int = 0,
        dummy_cycles: int = 0,
    ) -> int:
        """Run one SPI flash command through the flash controller's user-command registers:
        send `command`, then `data`, then read back `read_bits` (at most 32) as a number."""
        self._refuse_in_secure_mode("running SPI flash commands")
        if read_bits > 32:
            raise EspforgeError("a raw SPI flash command reads at most 32 bits")
        if len(data) > 64:
            raise EspforgeError("a raw SPI flash command sends at most 64 bytes")
        spi = self.chip.spi
        saved_usr, saved_usr2 = self.read_reg(spi.usr_reg), self.read_reg(spi.usr2_reg)
        data_bits = len(data) * 8
        phases = SPI_USR_COMMAND
        phases |= SPI_USR_MISO if read_bits else 0
        phases |= SPI_USR_MOSI if data_bits else 0
        phases |= SPI_USR_ADDR if address_bits else 0
        phases |= SPI_USR_DUMMY if dummy_cycles else 0
        self._set_spi_lengths(data_bits, read_bits, address_bits, dummy_cycles)
        self.write_reg(spi.usr_reg, phases)
        self.write_reg(spi.usr2_reg, (7 << SPI_USR2_COMMAND_LEN_SHIFT) | command)
        if address_bits:
            shifted = (address or 0) << (32 - address_bits) if spi.addr_msb_aligned else address
            self.write_reg(spi.addr_reg, (shifted or 0) & 0xFFFFFFFF)
        if data_bits:
            padded = data + b"\0" * (-len(data) % 4)
            for index, (word,) in enumerate(struct.iter_unpack("<I", padded)):
                self.write_reg(spi.w0_reg + 4 * index, word)
        else:
            self.write_reg(spi.w0_reg, 0)  # clear what the read lands in
        self.write_reg(spi.cmd_reg, SPI_CMD_USR)
        for _ in range(SPI_COMMAND_POLLS):
            if not self.read_reg(spi.cmd_reg) & SPI_CMD_USR:
                break
        else:
            raise ProtocolError(f"SPI flash command 0x{command:02x} did not complete in time")
        result = self.read_reg(spi.w0_reg)
        self.write_reg(spi.usr_reg, saved_usr)
        self.write_reg(spi.usr2_reg, saved_usr2)
        return result

    def _set_spi_lengths(
        self, mosi_bits: int, miso_bits: int, address_bits: int, dummy_cycles: int
    ) -> None:
        spi = self.chip.spi
        usr1 = (dummy_cycles - 1) if dummy_cycles else 0
        usr1 |= ((address_bits - 1) << SPI_USR1_ADDR_LEN_SHIFT) if address_bits else 0
        if spi.mosi_dlen_offs is None or spi.miso_dlen_offs is None:
            # ESP8266: the data lengths live in USR1 too, and USR1 is always written.
            usr1 |= max(mosi_bits - 1, 0) << SPI_USR1_LEGACY_MOSI_BITLEN_SHIFT
            usr1 |= max(miso_bits - 1, 0) << SPI_USR1_LEGACY_MISO_BITLEN_SHIFT
            self.write_reg(spi.usr1_reg, usr1)
            return
        if mosi_bits:
            self.write_reg(spi.base + spi.mosi_dlen_offs, mosi_bits - 1)
        if miso_bits:
            self.write_reg(spi.base + spi.miso_dlen_offs, miso_bits - 1)
        if usr1:
            self.write_reg(spi.usr1_reg, usr1)

    def flash_id(self) -> int:
        """The flash chip's JEDEC id: manufacturer in bits 0-7, device in bits 8-23."""
        if self._flash_id is None:
            self._flash_id = self.run_spiflash_command(SPIFLASH_RDID, read_bits=24)
        return self._flash_id

    def read_flash_status(self, num_bytes: int = 2) -> int:
        """Up to three status register bytes (RDSR, RDSR2, RDSR3), the first least significant."""
        status = 0
        for shift, command in enumerate(SPIFLASH_RDSR[:num_bytes]):
            status |= self.run_spiflash_command(command, read_bits=8) << (8 * shift)
        return status

    def write_flash_status(
        self, value: int, num_bytes: int = 2, set_non_volatile: bool = False
    ) -> None:
        """Write the status register as esptool does: a 16-bit WRSR for two bytes (some flash
        only takes that), then each byte with its own command, each after a write enable."""
        enable = SPIFLASH_WREN if set_non_volatile else SPIFLASH_WEVSR
        if num_bytes == 2:
            self.run_spiflash_command(enable)
            self.run_spiflash_command(SPIFLASH_WRSR[0], struct.pack("<H", value & 0xFFFF))
        for command in SPIFLASH_WRSR[:num_bytes]:
            self.run_spiflash_command(enable)
            self.run_spiflash_command(command, bytes([value & 0xFF]))
            value >>= 8
        self.run_spiflash_command(SPIFLASH_WRDI)

    def read_flash_sfdp(self, offset: int, num_bytes: int) -> int:
        """`num_bytes` (1-4) of the flash's SFDP table at `offset`, the first least significant."""
        if not 1 <= num_bytes <= 4:
            raise EspforgeError("read-flash-sfdp reads 1 to 4 bytes at a time")
        return self.run_spiflash_command(
            SPIFLASH_RDSFDP,
            read_bits=8 * num_bytes,
            address=offset,
            address_bits=24,
            dummy_cycles=8,
        )
