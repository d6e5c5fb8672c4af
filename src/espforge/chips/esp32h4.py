"""ESP32-H4: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-H4 shares the ESP32-C3's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c3
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    SpiRegisters,
    WatchdogRegisters,
    frozen_map,
    rom_boot_messages,
)

BLOCK1 = 0x600B1844  # eFuse block 1, word n at + 4 * n
TIMG = 0x60090000
LP_WDT = 0x600B5400

CHIP = replace(
    esp32c3.CHIP,
    name="esp32h4",
    chip_name="ESP32-H4",
    image_chip_id=0x1C,
    bootloader_flash_offset=0x2000,
    uf2_family_id=0x9E0BAA8A,
    flash_frequencies=frozen_map({"48m": 0xF, "24m": 0x0}),
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x42000000, 0x44000000, "DROM"),
        MemoryRegion(0x40810000, 0x40860000, "DRAM"),
        MemoryRegion(0x40810000, 0x40860000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x40000000, 0x40020000, "DROM_MASK"),
        MemoryRegion(0x40000000, 0x40020000, "IROM_MASK"),
        MemoryRegion(0x42000000, 0x44000000, "IROM"),
        MemoryRegion(0x40810000, 0x40860000, "IRAM"),
        MemoryRegion(0x40810000, 0x40860000, "MEM_INTERNAL"),
    ),
    irom_map=(0x42000000, 0x44000000),
    drom_map=(0x42000000, 0x44000000),
    spi=SpiRegisters(
        base=0x60099000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    uart_date_reg=0x6001208C,
    uart_clkdiv_reg=0x60012014,
    efuse_base=0x600B1800,
    mac_efuse_reg=0x600B1844,
    watchdog_reset_supported=False,
    mmu_page_sizes=(0x2000, 0x4000, 0x8000, 0x10000),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4, has_eui64=True),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 12, 22, 2),),
        minor=(RegisterField(BLOCK1 + 12, 18, 4),),
    ),
    crystal=CrystalFacts(fixed_mhz=32),
    watchdog=WatchdogRegisters(
        wdt_config0=TIMG + 0x48,
        wdt_config1=TIMG + 0x4C,
        wdt_protect=TIMG + 0x64,
        swd_config=LP_WDT + 0x20,
        swd_auto_feed=1 << 18,
        swd_protect=LP_WDT + 0x24,
        swd_key=0x50D83AA1,
    ),
    boot_messages=rom_boot_messages(
        "esp32h4-20240327",
        "Mar 27 2024",
        "boot:0x4 (DOWNLOAD(USB/UART0))",
        "boot:0xc (SPI_FAST_FLASH_BOOT)",
    ),
)
