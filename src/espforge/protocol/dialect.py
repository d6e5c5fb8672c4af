"""What the code answering the serial protocol understands: a ROM bootloader or a flasher stub.

Both speak the same commands in the same packets; they differ in a few facts, collected here as
a `Dialect`. A chip's ROM dialect follows from its `RomProtocol` facts; a flasher stub speaks
one dialect on every chip, from the moment it greets (OHAI). The loader consults its dialect
wherever the two differ, so no caller has to ask which of them is answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from espforge.chips import ChipSpec
from espforge.chips.base import FLASH_SECTOR_SIZE

STUB_FLASH_BLOCK = 0x4000


class SpiAttachForm(Enum):
    """How the flash chip is attached."""

    BY_FLASH_BEGIN = "flash-begin"  # the ESP8266 ROM attaches it on any FLASH_BEGIN
    PINS_AND_LEGACY_FLAG = "pins-and-flag"  # ROMs: the pin word, then an "is legacy" byte and 3
    PINS = "pins"  # stubs: the pin word only


@dataclass(frozen=True)
class Dialect:
    flash_block_size: int  # data bytes per FLASH_DATA / FLASH_DEFL_DATA
    # FLASH_BEGIN erases the whole region before it answers (so its size word is an erase
    # size and its timeout grows with it); otherwise the region is erased as data arrives.
    erases_on_begin: bool
    # The ESP8266 ROM erases more than its FLASH_BEGIN asks (see `esp8266_erase_size`).
    erase_size_quirk: bool
    # FLASH_BEGIN / FLASH_DEFL_BEGIN take a 5th word: 1 = encrypt the data.
    begin_encrypt_word: bool
    compressed_writes: bool  # FLASH_DEFL_BEGIN/DATA/END
    flash_md5: bool  # SPI_FLASH_MD5
    # SPI_FLASH_MD5's answer: this many hex digits, or None for 16 raw bytes.
    md5_hex_length: int | None
    # READ_FLASH_SLOW answers this many bytes per command (ROMs); None when the dialect
    # streams flash with READ_FLASH under windowed acknowledgements instead (stubs).
    read_slow_block: int | None
    can_read: bool  # some flash read command exists at all
    erase_commands: bool  # ERASE_FLASH / ERASE_REGION (else a FLASH_BEGIN erases)
    spi_attach: SpiAttachForm
    spi_set_params: bool  # SPI_SET_PARAMS is served (the ESP8266 ROM needs none)
    change_baudrate: bool  # CHANGE_BAUDRATE is served
    # CHANGE_BAUDRATE's words: the new rate as is and the rate in use (stubs), or the new rate
    # as the ROM's UART clock counts it and 0 (ROMs).
    baud_with_old_rate: bool
    # FLASH_END / FLASH_DEFL_END is answered once the last block is in flash: a write ends by
    # waiting for it. A ROM has programmed every block before it answers the block.
    ends_write_with_answer: bool
    # The code answering runs in RAM in place of the ROM bootloader: running the application
    # is RUN_USER_CODE, and staying in the bootloader means rebooting back into it.
    replaces_rom: bool


def rom_dialect(chip: ChipSpec) -> Dialect:
    """What `chip`'s ROM bootloader understands."""
    rom = chip.rom
    return Dialect(
        flash_block_size=chip.rom_flash_write_size,
        erases_on_begin=True,
        erase_size_quirk=rom.erase_size_quirk,
        begin_encrypt_word=rom.flash_begin_encrypted_word,
        compressed_writes=rom.compressed_writes,
        flash_md5=rom.flash_md5,
        md5_hex_length=rom.md5_hex_length,
        read_slow_block=rom.read_slow_block,
        can_read=rom.read_flash_slow,
        erase_commands=False,
        spi_attach=(
            SpiAttachForm.PINS_AND_LEGACY_FLAG if rom.spi_attach else SpiAttachForm.BY_FLASH_BEGIN
        ),
        spi_set_params=rom.spi_set_params,
        change_baudrate=rom.change_baudrate,
        baud_with_old_rate=False,
        ends_write_with_answer=False,
        replaces_rom=False,
    )


# Every chip's flasher stub serves every command, with the encrypt word on the ESP32 too
# (whose ROM lacks it).
STUB_DIALECT = Dialect(
    flash_block_size=STUB_FLASH_BLOCK,
    erases_on_begin=False,
    erase_size_quirk=False,
    begin_encrypt_word=True,
    compressed_writes=True,
    flash_md5=True,
    md5_hex_length=None,
    read_slow_block=None,
    can_read=True,
    erase_commands=True,
    spi_attach=SpiAttachForm.PINS,
    spi_set_params=True,
    change_baudrate=True,
    baud_with_old_rate=True,
    ends_write_with_answer=True,
    replaces_rom=True,
)


def esp8266_erase_size(offset: int, size: int) -> int:
    """The erase size to send so the ESP8266 ROM's FLASH_BEGIN erases `size` bytes.

    Its ROM erases the sectors up to the next 64 KB boundary twice over, so asking for
    roughly half of those (esptool's adjustment) gets the intended region erased.
    """
    sectors_per_block = 16
    sectors = (size + FLASH_SECTOR_SIZE - 1) // FLASH_SECTOR_SIZE
    head = min(sectors, sectors_per_block - (offset // FLASH_SECTOR_SIZE) % sectors_per_block)
    if sectors < 2 * head:
        return (sectors + 1) // 2 * FLASH_SECTOR_SIZE
    return (sectors - head) * FLASH_SECTOR_SIZE
