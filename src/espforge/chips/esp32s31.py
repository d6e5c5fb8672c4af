"""ESP32-S31: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-S31 shares the ESP32-C5's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c5
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    SpiRegisters,
    WatchdogRegisters,
    rom_boot_messages,
)

BLOCK1 = 0x20715050  # eFuse block 1, word n at + 4 * n
LP_WDT = 0x20801000

CHIP = replace(
    esp32c5.CHIP,
    name="esp32s31",
    chip_name="ESP32-S31",
    image_chip_id=0x20,
    uf2_family_id=0x3101F7C1,
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x40000000, 0x54000000, "DROM"),
        MemoryRegion(0x2F000000, 0x2F080000, "DRAM"),
        MemoryRegion(0x2F000000, 0x2F080000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x2F800000, 0x2F850000, "DROM_MASK"),
        MemoryRegion(0x2F800000, 0x2F850000, "IROM_MASK"),
        MemoryRegion(0x40000000, 0x54000000, "IROM"),
        MemoryRegion(0x2F000000, 0x2F080000, "IRAM"),
        MemoryRegion(0x2E000000, 0x2E008000, "RTC_IRAM"),
        MemoryRegion(0x2E000000, 0x2E008000, "RTC_DRAM"),
    ),
    irom_map=(0x40000000, 0x54000000),
    drom_map=(0x40000000, 0x54000000),
    spi=SpiRegisters(
        base=0x20501000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    uart_date_reg=0x2038A08C,
    efuse_base=0x20715000,
    mac_efuse_reg=0x20715050,
    usb_otg_supported=True,
    mmu_page_sizes=(0x8000, 0x10000, 0x20000, 0x40000),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 12, 22, 2),),
        minor=(RegisterField(BLOCK1 + 12, 18, 4),),
    ),
    crystal=CrystalFacts(fixed_mhz=40),
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
        "esp32s31-20250603",
        "Jun  3 2025",
        "boot:0x0 (DOWNLOAD(USB/UART0))",
        "boot:0x8 (SPI_FAST_FLASH_BOOT)",
    ),
)
