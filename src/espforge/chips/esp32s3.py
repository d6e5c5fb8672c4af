"""ESP32-S3: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-S3 shares the ESP32's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32
from espforge.chips.base import MemoryRegion, SpiRegisters

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
)
