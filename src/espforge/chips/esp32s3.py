"""ESP32-S3: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-S3 shares the ESP32's facts except those listed here.
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

BLOCK1 = 0x60007044  # eFuse block 1, word n at + 4 * n
BLOCK2 = 0x6000705C
RTC_CNTL = 0x60008000

CHIP = replace(
    esp32.CHIP,
    name="esp32s3",
    chip_name="ESP32-S3",
    image_chip_id=0x9,
    uses_magic_value=False,
    magic_value=None,
    bootloader_flash_offset=0x0,
    uf2_family_id=0xC47E5767,
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x3C000000, 0x3D000000, "DROM"),
        MemoryRegion(0x3D000000, 0x3E000000, "EXTRAM_DATA"),
        MemoryRegion(0x600FE000, 0x60100000, "RTC_DRAM"),
        MemoryRegion(0x3FC88000, 0x3FD00000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x3FC88000, 0x403E2000, "MEM_INTERNAL"),
        MemoryRegion(0x3FC88000, 0x3FD00000, "DRAM"),
        MemoryRegion(0x40000000, 0x4001A100, "IROM_MASK"),
        MemoryRegion(0x40370000, 0x403E0000, "IRAM"),
        MemoryRegion(0x600FE000, 0x60100000, "RTC_IRAM"),
        MemoryRegion(0x42000000, 0x42800000, "IROM"),
        MemoryRegion(0x50000000, 0x50002000, "RTC_DATA"),
    ),
    irom_map=(0x42000000, 0x44000000),
    drom_map=(0x3C000000, 0x3E000000),
    spi=SpiRegisters(
        base=0x60002000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
        addr_msb_aligned=False,
    ),
    uart_date_reg=0x60000080,
    uart_clkdiv_reg=0x60000014,
    efuse_base=0x60007000,
    mac_efuse_reg=0x60007044,
    security_info_supported=True,
    usb_otg_supported=True,
    usb_serial_jtag_supported=True,
    watchdog_reset_supported=True,
    flash_encrypted_write_align=0x10,
    flash_segment_min_page_tail=0x0,
    secure_boot_v1=False,
    rom=replace(esp32.CHIP.rom, flash_begin_encrypted_word=True, security_info_length=20),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 20, 24, 2),),
        minor=(RegisterField(BLOCK1 + 20, 23, 1), RegisterField(BLOCK1 + 12, 18, 3)),
        # v0.0 chips carry block version 1.1 and other data where the major field is.
        v0_when=(
            (RegisterField(BLOCK1 + 12, 18, 3), 0),
            (RegisterField(BLOCK2 + 16, 0, 2), 1),
            (RegisterField(BLOCK1 + 12, 24, 3), 1),
        ),
    ),
    crystal=CrystalFacts(fixed_mhz=40),
    watchdog=WatchdogRegisters(
        wdt_config0=RTC_CNTL + 0x98,
        wdt_config1=RTC_CNTL + 0x9C,
        wdt_protect=RTC_CNTL + 0xB0,
        swd_config=RTC_CNTL + 0xB4,
        swd_auto_feed=1 << 31,
        swd_protect=RTC_CNTL + 0xB8,
        swd_key=0x8F1D312A,
    ),
    download_strap=DownloadStrap(
        gpio_strap_reg=0x60004038,
        spi_boot_mask=1 << 3,
        option1_reg=0x6000812C,
        force_download_mask=0x1,
        clear_force_download_on_hard_reset=True,
    ),
    boot_messages=rom_boot_messages(
        "esp32s3-20210327",
        "Mar 27 2021",
        "boot:0x0 (DOWNLOAD(USB/UART0))",
        "boot:0x8 (SPI_FAST_FLASH_BOOT)",
    ),
)
