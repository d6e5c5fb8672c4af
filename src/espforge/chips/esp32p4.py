"""ESP32-P4: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-P4 shares the ESP32's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32
from espforge.chips.base import MemoryRegion, SpiRegisters

CHIP = replace(
    esp32.CHIP,
    name="esp32p4",
    chip_name="ESP32-P4",
    image_chip_id=0x12,
    uses_magic_value=False,
    magic_value=None,
    bootloader_flash_offset=0x2000,
    uf2_family_id=0x3D308E94,
    memory_map=(
        MemoryRegion(0x0, 0x10000, "PADDING"),
        MemoryRegion(0x40000000, 0x4C000000, "DROM"),
        MemoryRegion(0x4FF00000, 0x4FFA0000, "DRAM"),
        MemoryRegion(0x4FF00000, 0x4FFA0000, "BYTE_ACCESSIBLE"),
        MemoryRegion(0x4FC00000, 0x4FC20000, "DROM_MASK"),
        MemoryRegion(0x4FC00000, 0x4FC20000, "IROM_MASK"),
        MemoryRegion(0x40000000, 0x4C000000, "IROM"),
        MemoryRegion(0x4FF00000, 0x4FFA0000, "IRAM"),
        MemoryRegion(0x50108000, 0x50110000, "RTC_IRAM"),
        MemoryRegion(0x50108000, 0x50110000, "RTC_DRAM"),
        MemoryRegion(0x600FE000, 0x60100000, "MEM_INTERNAL2"),
    ),
    irom_map=(0x40000000, 0x4C000000),
    drom_map=(0x40000000, 0x4C000000),
    spi=SpiRegisters(
        base=0x5008D000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
    ),
    uart_date_reg=0x500CA08C,
    efuse_base=0x5012D000,
    mac_efuse_reg=0x5012D044,
    security_info_supported=True,
    usb_otg_supported=True,
    usb_serial_jtag_supported=True,
    watchdog_reset_supported=True,
    flash_encrypted_write_align=0x10,
    flash_segment_min_page_tail=0x0,
    secure_boot_v1=False,
)
