"""The shape of a chip's facts: each chip module fills one `ChipSpec`; no code branches on names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal


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
    """The SPI flash controller registers the ROM protocol pokes for raw flash commands."""

    base: int
    usr_offs: int
    usr1_offs: int
    usr2_offs: int
    w0_offs: int
    mosi_dlen_offs: int | None = None
    miso_dlen_offs: int | None = None


def frozen_map(values: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(values))


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
    # Image facts: the MMU page sizes the chip's cache supports (empty: only 64 KB).
    mmu_page_sizes: tuple[int, ...] = ()
    irom_align: int = 0x10000
    # ESP32's second-stage bootloader leaves the last MMU page of a flash segment unmapped when
    # the segment ends fewer than this many bytes into it, so elf2image pads to at least this.
    flash_segment_min_page_tail: int = 0
    # Secure Boot v1 (and so elf2image's --secure-pad) exists only on the original ESP32.
    secure_boot_v1: bool = False

    def region_names(self, address: int) -> list[str]:
        """Names of every memory-map region that holds `address` (image-info's segment column)."""
        return [region.name for region in self.memory_map if region.contains(address)]

    def is_irom(self, address: int) -> bool:
        return self.irom_map[0] <= address < self.irom_map[1]

    def is_flash_mapped(self, address: int) -> bool:
        in_drom = self.drom_map is not None and self.drom_map[0] <= address < self.drom_map[1]
        return self.is_irom(address) or in_drom
