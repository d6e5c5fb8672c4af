"""ESP8266: facts as data (esptool 5.6's target description, the reference pages)."""

from espforge.chips.base import ChipSpec, MemoryRegion, SpiRegisters, frozen_map

CHIP = ChipSpec(
    name="esp8266",
    chip_name="ESP8266",
    image_format="esp8266",
    image_chip_id=None,
    uses_magic_value=True,
    magic_value=0xFFF0C101,
    bootloader_flash_offset=0x0,
    uf2_family_id=0x7EAB61ED,
    flash_sizes=frozen_map(
        {
            "512KB": 0x0,
            "256KB": 0x10,
            "1MB": 0x20,
            "2MB": 0x30,
            "4MB": 0x40,
            "2MB-c1": 0x50,
            "4MB-c1": 0x60,
            "8MB": 0x80,
            "16MB": 0x90,
        }
    ),
    flash_frequencies=frozen_map({"80m": 0xF, "40m": 0x0, "26m": 0x1, "20m": 0x2}),
    memory_map=(
        MemoryRegion(0x3FF00000, 0x3FF00010, "DPORT"),
        MemoryRegion(0x3FFE8000, 0x40000000, "DRAM"),
        MemoryRegion(0x40100000, 0x40108000, "IRAM"),
        MemoryRegion(0x40201010, 0x402E1010, "IROM"),
    ),
    irom_map=(0x40200000, 0x40300000),
    drom_map=None,
    spi=SpiRegisters(
        base=0x60000200,
        usr_offs=0x1C,
        usr1_offs=0x20,
        usr2_offs=0x24,
        w0_offs=0x40,
    ),
    uart_date_reg=0x60000078,
    uart_clkdiv_reg=0x60000014,
    efuse_base=None,
    mac_efuse_reg=None,
    security_info_supported=False,
    usb_otg_supported=False,
    usb_serial_jtag_supported=False,
    watchdog_reset_supported=False,
    flash_encrypted_write_align=0x10,
)
