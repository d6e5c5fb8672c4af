"""ESP32-S2: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-S2 shares the ESP32's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    DownloadStrap,
    EfuseMac,
    MemoryRegion,
    RegisterField,
    SpiRegisters,
    WatchdogRegisters,
    rom_boot_messages,
)

BLOCK1 = 0x3F41A044  # eFuse block 1 (MAC and chip facts), word n at + 4 * n
RTC_CNTL = 0x3F408000

CHIP = replace(
    esp32.CHIP,
    name="esp32s2",
    chip_name="ESP32-S2",
    image_chip_id=0x2,
    magic_value=0x7C6,
    uf2_family_id=0xBFDD4EEE,
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x3F000000, 0x3FF80000, "DROM"),
        MemoryRegion(0x3F500000, 0x3FF80000, "EXTRAM_DATA"),
        MemoryRegion(0x3FF9E000, 0x3FFA0000, "RTC_DRAM"),
        MemoryRegion(0x3FF9E000, 0x40000000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x3FF9E000, 0x40072000, "MEM_INTERNAL"),
        MemoryRegion(0x3FFB0000, 0x40000000, "DRAM"),
        MemoryRegion(0x40000000, 0x4001A100, "IROM_MASK"),
        MemoryRegion(0x40020000, 0x40070000, "IRAM"),
        MemoryRegion(0x40070000, 0x40072000, "RTC_IRAM"),
        MemoryRegion(0x40080000, 0x40800000, "IROM"),
        MemoryRegion(0x50000000, 0x50002000, "RTC_DATA"),
    ),
    irom_map=(0x40080000, 0x40B80000),
    drom_map=(0x3F000000, 0x3F3F0000),
    spi=SpiRegisters(
        base=0x3F402000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    uart_clkdiv_reg=0x3F400014,
    efuse_base=0x3F41A000,
    mac_efuse_reg=0x3F41A044,
    security_info_supported=True,
    usb_otg_supported=True,
    watchdog_reset_supported=True,
    flash_encrypted_write_align=0x10,
    flash_segment_min_page_tail=0x0,
    secure_boot_v1=False,
    rom=replace(esp32.CHIP.rom, flash_begin_encrypted_word=True, security_info_length=12),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 12, 18, 2),),
        minor=(RegisterField(BLOCK1 + 12, 20, 1), RegisterField(BLOCK1 + 16, 4, 3)),
    ),
    crystal=CrystalFacts(fixed_mhz=40),
    watchdog=WatchdogRegisters(
        wdt_config0=RTC_CNTL + 0x94, wdt_config1=RTC_CNTL + 0x98, wdt_protect=RTC_CNTL + 0xAC
    ),
    download_strap=DownloadStrap(
        gpio_strap_reg=0x3F404038,
        spi_boot_mask=1 << 3,
        option1_reg=0x3F408128,
        force_download_mask=0x1,
    ),
    boot_messages=rom_boot_messages(
        "esp32s2-rc4-20191025",
        "Oct 25 2019",
        "boot:0x0 (DOWNLOAD(USB/UART0/1))",
        "boot:0x8 (SPI_FAST_FLASH_BOOT)",
    ),
)
