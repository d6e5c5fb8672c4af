"""The shape of a chip's facts: each chip module fills one `ChipSpec`; no code branches on names.

Groups of facts have sibling modules: `registers`, `identity` (MAC, revision), `crystal`,
`resets` (watchdogs, straps) and `boot_messages`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from espforge.chips.boot_messages import BootMessages, rom_boot_messages
from espforge.chips.crystal import CrystalFacts
from espforge.chips.identity import ChipRevisionFields, EfuseMac, OtpMac
from espforge.chips.registers import RegisterField
from espforge.chips.resets import DownloadStrap, WatchdogRegisters

# The ROM word at this address differs per chip model; ESP8266, ESP32 and ESP32-S2 are told
# apart by it (the later ROMs report a chip id through GET_SECURITY_INFO instead).
CHIP_DETECT_MAGIC_REG = 0x40001000

# ROM transfer block sizes: RAM (MEM_DATA) blocks, and the cap when the chip's own USB-OTG
# peripheral carries the link.
ROM_RAM_BLOCK_SIZE = 0x1800
USB_OTG_RAM_BLOCK_SIZE = 0x800

# NOR flash geometry every chip's flash shares: the smallest erase (a sector), the large erase
# (a block) and the program page. Writes erase whole sectors.
FLASH_SECTOR_SIZE = 0x1000
FLASH_BLOCK_SIZE = 0x10000
FLASH_PAGE_SIZE = 0x100

# Bits of the SPI flash controller every chip shares (esptool's run_spiflash_command):
# writing SPI_CMD_USR to the CMD register starts a "user" transaction; the controller clears
# it when done. The USR register says which phases the transaction has.
SPI_CMD_USR = 1 << 18
SPI_USR_COMMAND = 1 << 31
SPI_USR_ADDR = 1 << 30
SPI_USR_DUMMY = 1 << 29
SPI_USR_MISO = 1 << 28
SPI_USR_MOSI = 1 << 27
# USR2: command bit-length minus one at bit 28 (7 for an 8-bit opcode), opcode in the low bits.
SPI_USR2_COMMAND_LEN_SHIFT = 28
# USR1: address bit-length minus one at bit 26, dummy cycles minus one in the low bits.
SPI_USR1_ADDR_LEN_SHIFT = 26
# ESP8266 only (no MOSI/MISO_DLEN registers): USR1 also holds the data bit-lengths minus one.
SPI_USR1_LEGACY_MOSI_BITLEN_SHIFT = 17
SPI_USR1_LEGACY_MISO_BITLEN_SHIFT = 8


@dataclass(frozen=True)
class MemoryRegion:
    """A named address range of the chip's memory map, [start, end)."""

    start: int
    end: int
    name: str

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end


@dataclass(frozen=True)
class SpiRegisters:
    """The SPI flash controller registers the ROM protocol pokes for raw flash commands.

    Offsets are from `base`. The CMD register is at +0x0 and the address register at +0x4 on
    every chip; data goes out from and comes back into W0, W1, ... (16 words).
    """

    base: int
    usr_offs: int
    usr1_offs: int
    usr2_offs: int
    w0_offs: int
    # MOSI/MISO data bit-length (minus one) registers; None on ESP8266, which keeps the
    # lengths in USR1 (see SPI_USR1_LEGACY_*).
    mosi_dlen_offs: int | None = None
    miso_dlen_offs: int | None = None
    # True: an address of n bits is sent from the register's MSB (the host shifts it left by
    # 32 - n); False (ESP32-S2 and later): from the low n bits as written.
    addr_msb_aligned: bool = True
    cmd_offs: int = 0x0
    addr_offs: int = 0x4

    @property
    def cmd_reg(self) -> int:
        return self.base + self.cmd_offs

    @property
    def addr_reg(self) -> int:
        return self.base + self.addr_offs

    @property
    def usr_reg(self) -> int:
        return self.base + self.usr_offs

    @property
    def usr1_reg(self) -> int:
        return self.base + self.usr1_offs

    @property
    def usr2_reg(self) -> int:
        return self.base + self.usr2_offs

    @property
    def w0_reg(self) -> int:
        return self.base + self.w0_offs


@dataclass(frozen=True)
class RomProtocol:
    """How the chip's ROM bootloader speaks the serial protocol (ROM only, not a stub)."""

    # Status bytes ending every response: 2 on the ESP8266 ROM, 4 on later ROMs (last 2
    # reserved). Only the first two (failed flag, error code) carry meaning.
    status_length: int
    # FLASH_BEGIN / FLASH_DEFL_BEGIN take a 5th word (1 = encrypted write); the ESP8266 and
    # ESP32 ROMs take the 4-word form only.
    flash_begin_encrypted_word: bool
    # Which optional commands the ROM serves; the others answer status 1, error 0x05.
    compressed_writes: bool  # FLASH_DEFL_BEGIN/DATA/END
    flash_md5: bool  # SPI_FLASH_MD5, answered as 32 ASCII hex digits by ROMs
    read_flash_slow: bool  # READ_FLASH_SLOW, 64 bytes per command
    change_baudrate: bool  # CHANGE_BAUDRATE (new baud, 0)
    spi_attach: bool  # SPI_ATTACH (pin word, then 4 bytes: is-legacy flag 0 and 3 zeros)
    spi_set_params: bool  # SPI_SET_PARAMS
    # Bytes of GET_SECURITY_INFO's answer before the status: 20 (flags u32, flash_crypt_cnt u8,
    # 7 key purposes u8, chip id u32, API version u32) or 12 on ESP32-S2 (no chip id/API
    # version); None when the ROM lacks the command.
    security_info_length: int | None
    # The ESP8266 ROM's FLASH_BEGIN erases more than asked (it counts the sectors up to the
    # next 64 KB boundary twice); hosts send a smaller erase size to compensate.
    erase_size_quirk: bool = False
    # SPI_FLASH_MD5 answer length from a ROM (hex text); a stub sends 16 raw bytes instead.
    md5_hex_length: int = 32
    # READ_FLASH_SLOW answers this many bytes whatever length was asked.
    read_slow_block: int = 64
    # SYNC is answered with this many identical responses (value field non-zero).
    sync_responses: int = 8


def frozen_map(values: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class RegisterUpdate:
    """One register update: value = (read & ~clear_bits) | set_bits (or `value` without a
    read), done only when the read holds all of `when_all_set`; then wait `delay` seconds."""

    address: int
    set_bits: int = 0
    clear_bits: int = 0
    value: int | None = None
    when_all_set: int = 0
    delay: float = 0.0


@dataclass(frozen=True)
class FlashPowerOn:
    """Register steps esptool runs after connecting (not in Secure Download Mode) to power the
    flash on revisions whose flash supply starts off (ESP32-P4 v3.1 and v3.2).

    On `rom_powered_revisions` with `rom_powered_field` set, the ROM already powered the flash
    and only `rom_powered_steps` run instead.
    """

    revisions: tuple[int, ...]  # major * 100 + minor
    steps: tuple[RegisterUpdate, ...]
    rom_powered_revisions: tuple[int, ...] = ()
    rom_powered_field: RegisterField | None = None
    rom_powered_steps: tuple[RegisterUpdate, ...] = ()


# Header size codes every ESP32-family chip shares (byte 3, high nibble).
STANDARD_FLASH_SIZES = frozen_map(
    {"1MB": 0x00, "2MB": 0x10, "4MB": 0x20, "8MB": 0x30}
    | {"16MB": 0x40, "32MB": 0x50, "64MB": 0x60, "128MB": 0x70}
)


@dataclass(frozen=True)
class ChipSpec:
    """Facts about one chip, as data."""

    name: str  # the --chip name, e.g. "esp32c3"
    chip_name: str  # the name esptool prints, e.g. "ESP32-C3"
    image_format: Literal["esp8266", "esp32"]
    image_chip_id: int | None  # extended-header chip id; None for ESP8266
    uses_magic_value: bool  # detected by READ_REG of the magic register
    magic_value: int | None
    bootloader_flash_offset: int
    uf2_family_id: int
    flash_sizes: Mapping[str, int]  # header byte 3 high nibble per size name
    flash_frequencies: Mapping[str, int]  # header byte 3 low nibble per frequency name
    memory_map: tuple[MemoryRegion, ...]
    irom_map: tuple[int, int]  # flash-mapped instruction range [start, end)
    drom_map: tuple[int, int] | None  # flash-mapped data range; None on ESP8266
    spi: SpiRegisters
    uart_date_reg: int
    uart_clkdiv_reg: int
    efuse_base: int | None
    mac_efuse_reg: int | None
    security_info_supported: bool
    usb_otg_supported: bool
    usb_serial_jtag_supported: bool
    watchdog_reset_supported: bool
    flash_encrypted_write_align: int
    rom_flash_write_size: int = 0x400
    # RAM the ROM loads code into beyond the memory map's regions (the ESP8266's IRAM runs to
    # 0x40110000, where flasher stubs are loaded, though image-info names only its first 32 KB).
    extra_ram_load_ranges: tuple[tuple[int, int], ...] = ()
    # Image facts: the MMU page sizes the chip's cache supports (empty: only 64 KB).
    mmu_page_sizes: tuple[int, ...] = ()
    irom_align: int = 0x10000
    # ESP32's second-stage bootloader leaves the last MMU page of a flash segment unmapped when
    # the segment ends fewer than this many bytes into it, so elf2image pads to at least this.
    flash_segment_min_page_tail: int = 0
    # Secure Boot v1 (and so elf2image's --secure-pad) exists only on the original ESP32.
    secure_boot_v1: bool = False
    # Whether the chip has flash encryption and secure boot at all (the ESP8266 has neither):
    # they decide which safety checks precede an erase or a plaintext write, and whether the
    # chip can encrypt what it is sent.
    flash_encryption: bool = True
    secure_boot: bool = True
    # ESP-IDF's flash layout applies: a second-stage bootloader, then a partition table.
    esp_idf_layout: bool = True
    # Wire facts: how the ROM bootloader talks, and where the chip keeps what hosts read.
    rom: RomProtocol = RomProtocol(
        status_length=4,
        flash_begin_encrypted_word=True,
        compressed_writes=True,
        flash_md5=True,
        read_flash_slow=True,
        change_baudrate=True,
        spi_attach=True,
        spi_set_params=True,
        security_info_length=20,
    )
    mac: EfuseMac | OtpMac | None = None
    revision: ChipRevisionFields | None = None  # None: the ROM offers no revision (ESP8266)
    crystal: CrystalFacts = CrystalFacts(fixed_mhz=40)
    # eFuse bits the factory burns on a typical chip (a virtual chip starts with them).
    factory_efuses: tuple[tuple[RegisterField, int], ...] = ()
    watchdog: WatchdogRegisters | None = None
    download_strap: DownloadStrap | None = None
    flash_power_on: FlashPowerOn | None = None
    boot_messages: BootMessages = rom_boot_messages(
        "unknown", "unknown", "boot:0x0 (DOWNLOAD)", "boot:0x8 (SPI_FAST_FLASH_BOOT)"
    )

    def region_names(self, address: int) -> list[str]:
        """Names of every memory-map region that holds `address` (image-info's segment column)."""
        return [region.name for region in self.memory_map if region.contains(address)]

    def is_irom(self, address: int) -> bool:
        return self.irom_map[0] <= address < self.irom_map[1]

    def is_flash_mapped(self, address: int) -> bool:
        in_drom = self.drom_map is not None and self.drom_map[0] <= address < self.drom_map[1]
        return self.is_irom(address) or in_drom
