"""ESP32-C2: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-C2 shares the ESP32-C3's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c3
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    frozen_map,
    rom_boot_messages,
)

BLOCK2 = 0x60008840  # eFuse block 2 (MAC and chip facts), word n at + 4 * n

CHIP = replace(
    esp32c3.CHIP,
    name="esp32c2",
    chip_name="ESP32-C2",
    image_chip_id=0xC,
    uf2_family_id=0x2B88D29C,
    flash_frequencies=frozen_map({"60m": 0xF, "30m": 0x0, "20m": 0x1, "15m": 0x2}),
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x3C000000, 0x3C400000, "DROM"),
        MemoryRegion(0x3FCA0000, 0x3FCE0000, "DRAM"),
        MemoryRegion(0x3FC88000, 0x3FD00000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x3FF00000, 0x3FF50000, "DROM_MASK"),
        MemoryRegion(0x40000000, 0x40090000, "IROM_MASK"),
        MemoryRegion(0x42000000, 0x42400000, "IROM"),
        MemoryRegion(0x4037C000, 0x403C0000, "IRAM"),
    ),
    irom_map=(0x42000000, 0x42400000),
    drom_map=(0x3C000000, 0x3C400000),
    mac_efuse_reg=0x60008840,
    usb_serial_jtag_supported=False,
    mmu_page_sizes=(0x4000, 0x8000, 0x10000),
    mac=EfuseMac(low_word=BLOCK2, high_word=BLOCK2 + 4),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK2 + 4, 20, 2),),
        minor=(RegisterField(BLOCK2 + 4, 16, 4),),
    ),
    # 26 or 40 MHz crystal, told by the UART divider; the ROM sets bauds as if it were 40.
    crystal=CrystalFacts(fixed_mhz=None, rom_assumed_mhz=40),
    watchdog=replace(
        esp32c3.CHIP.watchdog,
        wdt_config0=0x60008084,
        wdt_config1=0x60008088,
        wdt_protect=0x6000809C,
    ),
    boot_messages=rom_boot_messages(
        "esp8684-api2-20220127",
        "Jan 27 2022",
        "boot:0x4 (DOWNLOAD(UART0))",
        "boot:0x8 (SPI_FAST_FLASH_BOOT)",
    ),
)
