"""ESP32-C5: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-C5 shares the ESP32-C6's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c6
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    frozen_map,
    rom_boot_messages,
)

BLOCK1 = 0x600B4844  # eFuse block 1, word n at + 4 * n

CHIP = replace(
    esp32c6.CHIP,
    name="esp32c5",
    chip_name="ESP32-C5",
    image_chip_id=0x17,
    bootloader_flash_offset=0x2000,
    uf2_family_id=0xF71C0343,
    flash_frequencies=frozen_map({"80m": 0xF, "40m": 0x0, "20m": 0x2}),
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x42000000, 0x44000000, "DROM"),
        MemoryRegion(0x40800000, 0x40860000, "DRAM"),
        MemoryRegion(0x40800000, 0x40860000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x4003A000, 0x40040000, "DROM_MASK"),
        MemoryRegion(0x40000000, 0x4003A000, "IROM_MASK"),
        MemoryRegion(0x42000000, 0x44000000, "IROM"),
        MemoryRegion(0x40800000, 0x40860000, "IRAM"),
        MemoryRegion(0x50000000, 0x50004000, "RTC_IRAM"),
        MemoryRegion(0x50000000, 0x50004000, "RTC_DRAM"),
        MemoryRegion(0x600FE000, 0x60100000, "MEM_INTERNAL2"),
    ),
    irom_map=(0x42000000, 0x44000000),
    drom_map=(0x42000000, 0x44000000),
    efuse_base=0x600B4800,
    mac_efuse_reg=0x600B4844,
    watchdog_reset_supported=True,
    mmu_page_sizes=(),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4, has_eui64=True),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 8, 4, 2),),
        minor=(RegisterField(BLOCK1 + 8, 0, 4),),
    ),
    # 40 or 48 MHz, told by the UART divider; the ROM's assumption is in PCR_SYSCLK_CONF.
    crystal=CrystalFacts(fixed_mhz=None, rom_assumed_field=RegisterField(0x60096110, 24, 7)),
    boot_messages=rom_boot_messages(
        "esp32c5-eco2-20250121",
        "Jan 21 2025",
        "boot:0x4 (DOWNLOAD(USB/UART/SDIO))",
        "boot:0xc (SPI_FAST_FLASH_BOOT)",
    ),
)
