"""ESP32-C6: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-C6 shares the ESP32-C3's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c3
from espforge.chips.base import (
    ChipRevisionFields,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    SpiRegisters,
    WatchdogRegisters,
    frozen_map,
    rom_boot_messages,
)

BLOCK1 = 0x600B0844  # eFuse block 1, word n at + 4 * n
LP_WDT = 0x600B1C00

CHIP = replace(
    esp32c3.CHIP,
    name="esp32c6",
    chip_name="ESP32-C6",
    image_chip_id=0xD,
    uf2_family_id=0x540DDF62,
    flash_frequencies=frozen_map({"80m": 0x0, "40m": 0x0, "20m": 0x2}),
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x42000000, 0x43000000, "DROM"),
        MemoryRegion(0x40800000, 0x40880000, "DRAM"),
        MemoryRegion(0x40800000, 0x40880000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x4004AC00, 0x40050000, "DROM_MASK"),
        MemoryRegion(0x40000000, 0x4004AC00, "IROM_MASK"),
        MemoryRegion(0x42000000, 0x43000000, "IROM"),
        MemoryRegion(0x40800000, 0x40880000, "IRAM"),
        MemoryRegion(0x50000000, 0x50004000, "RTC_IRAM"),
        MemoryRegion(0x50000000, 0x50004000, "RTC_DRAM"),
        MemoryRegion(0x600FE000, 0x60100000, "MEM_INTERNAL2"),
    ),
    drom_map=(0x42800000, 0x43000000),
    spi=SpiRegisters(
        base=0x60003000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    efuse_base=0x600B0800,
    mac_efuse_reg=0x600B0844,
    watchdog_reset_supported=False,
    mmu_page_sizes=(0x2000, 0x4000, 0x8000, 0x10000),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4, has_eui64=True),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 12, 22, 2),),
        minor=(RegisterField(BLOCK1 + 12, 18, 4),),
    ),
    watchdog=WatchdogRegisters(
        wdt_config0=LP_WDT,
        wdt_config1=LP_WDT + 0x4,
        wdt_protect=LP_WDT + 0x18,
        swd_config=LP_WDT + 0x1C,
        swd_auto_feed=1 << 18,
        swd_protect=LP_WDT + 0x20,
        swd_key=0x50D83AA1,
    ),
    boot_messages=rom_boot_messages(
        "esp32c6-20220919",
        "Sep 19 2022",
        "boot:0x4 (DOWNLOAD(USB/UART/SDIO_REI_FEO))",
        "boot:0xc (SPI_FAST_FLASH_BOOT)",
    ),
)
