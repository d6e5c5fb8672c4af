"""ESP32-C2: facts as data (from esptool 5.6's target description and the reference pages)."""

from espforge.chips.base import ChipSpec, MemoryRegion, SpiRegisters, frozen_map

CHIP = ChipSpec(
    name="esp32c2",
    chip_name="ESP32-C2",
    image_format="esp32",
    image_chip_id=0xC,
    uses_magic_value=False,
    magic_value=None,
    bootloader_flash_offset=0x0,
    uf2_family_id=0x2B88D29C,
    flash_sizes=frozen_map(
        {
            "1MB": 0x0,
            "2MB": 0x10,
            "4MB": 0x20,
            "8MB": 0x30,
            "16MB": 0x40,
            "32MB": 0x50,
            "64MB": 0x60,
            "128MB": 0x70,
        }
    ),
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
    spi=SpiRegisters(
        base=0x60002000,
        usr_offs=0x18,
        usr1_offs=0x1C,
        usr2_offs=0x20,
        w0_offs=0x58,
        mosi_dlen_offs=0x24,
        miso_dlen_offs=0x28,
    ),
    uart_date_reg=0x6000007C,
    uart_clkdiv_reg=0x60000014,
    efuse_base=0x60008800,
    mac_efuse_reg=0x60008840,
    security_info_supported=True,
    usb_otg_supported=False,
    usb_serial_jtag_supported=False,
    watchdog_reset_supported=True,
    flash_encrypted_write_align=0x10,
    rom_flash_write_size=0x400,
    mmu_page_sizes=(
        0x4000,
        0x8000,
        0x10000,
    ),
)
