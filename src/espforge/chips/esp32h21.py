"""ESP32-H21: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-H21 shares the ESP32-H2's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32h2
from espforge.chips.base import (
    ChipRevisionFields,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    frozen_map,
    rom_boot_messages,
)

BLOCK1 = 0x600B4044  # eFuse block 1, word n at + 4 * n

CHIP = replace(
    esp32h2.CHIP,
    name="esp32h21",
    chip_name="ESP32-H21",
    image_chip_id=0x19,
    uf2_family_id=0xB6DD00AF,
    flash_frequencies=frozen_map({"48m": 0xF, "24m": 0x0}),
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x42000000, 0x43000000, "DROM"),
        MemoryRegion(0x40800000, 0x40850000, "DRAM"),
        MemoryRegion(0x40800000, 0x40850000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x40000000, 0x40020000, "DROM_MASK"),
        MemoryRegion(0x40000000, 0x40020000, "IROM_MASK"),
        MemoryRegion(0x42000000, 0x43000000, "IROM"),
        MemoryRegion(0x40800000, 0x40850000, "IRAM"),
        MemoryRegion(0x50000000, 0x50001000, "RTC_IRAM"),
        MemoryRegion(0x50000000, 0x50001000, "RTC_DRAM"),
        MemoryRegion(0x40800000, 0x40850000, "MEM_INTERNAL"),
    ),
    irom_map=(0x42000000, 0x43000000),
    drom_map=(0x42000000, 0x43000000),
    uart_date_reg=0x6000008C,
    efuse_base=0x600B4000,
    mac_efuse_reg=0x600B4044,
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4, has_eui64=True),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 20, 8, 2),),
        minor=(RegisterField(BLOCK1 + 20, 4, 4),),
    ),
    boot_messages=rom_boot_messages(
        "esp32h21-20240816",
        "Aug 16 2024",
        "boot:0x4 (DOWNLOAD(USB/UART0))",
        "boot:0xc (SPI_FAST_FLASH_BOOT)",
    ),
)
