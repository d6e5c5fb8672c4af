"""ESP32-E22: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-E22 shares the ESP32's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    DownloadStrap,
    EfuseMac,
    MemoryRegion,
    SpiRegisters,
    rom_boot_messages,
)

BLOCK1 = 0xC4008044  # eFuse block 1, word n at + 4 * n

CHIP = replace(
    esp32.CHIP,
    name="esp32e22",
    chip_name="ESP32-E22",
    image_chip_id=0x1F,
    uses_magic_value=False,
    magic_value=None,
    bootloader_flash_offset=0x0,
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x3C000000, 0x40000000, "DROM"),
        MemoryRegion(0x31000000, 0x31200000, "DRAM"),
        MemoryRegion(0x31000000, 0x31200000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x30000000, 0x30120000, "DROM_MASK"),
        MemoryRegion(0x30000000, 0x30120000, "IROM_MASK"),
        MemoryRegion(0x3C000000, 0x40000000, "IROM"),
        MemoryRegion(0x30FE0000, 0x31200000, "IRAM"),
        MemoryRegion(0xC0000000, 0xC0008000, "RTC_IRAM"),
        MemoryRegion(0xC0000000, 0xC0008000, "RTC_DRAM"),
    ),
    irom_map=(0x3C000000, 0x40000000),
    drom_map=(0x3C000000, 0x40000000),
    spi=SpiRegisters(
        base=0xC3003000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    uart_date_reg=0xC310208C,
    uart_clkdiv_reg=0xC3102014,
    efuse_base=0xC4008000,
    mac_efuse_reg=0xC4008044,
    security_info_supported=True,
    usb_otg_supported=True,
    flash_encrypted_write_align=0x10,
    flash_segment_min_page_tail=0x0,
    secure_boot_v1=False,
    rom=replace(esp32.CHIP.rom, flash_begin_encrypted_word=True, security_info_length=20),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4),
    revision=ChipRevisionFields(major=(), minor=()),  # not yet in its eFuse table: v0.0
    crystal=CrystalFacts(fixed_mhz=None),
    download_strap=DownloadStrap(
        gpio_strap_reg=0xC310D000,
        spi_boot_mask=1 << 3,
        option1_reg=0x3F408128,
        force_download_mask=0x1,
    ),
    boot_messages=rom_boot_messages(
        "esp32e22-20250612",
        "Jun 12 2025",
        "boot:0x0 (DOWNLOAD(USB/UART0))",
        "boot:0x8 (SPI_FAST_FLASH_BOOT)",
    ),
)
