"""ESP32-P4: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-P4 shares the ESP32's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    DownloadStrap,
    EfuseMac,
    FlashPowerOn,
    MemoryRegion,
    RegisterField,
    RegisterUpdate,
    SpiRegisters,
    WatchdogRegisters,
    rom_boot_messages,
)

BLOCK1 = 0x5012D044  # eFuse block 1, word n at + 4 * n
LP_WDT = 0x50116000
LP_SYSTEM = 0x50110000
PMU = 0x50115000
PMU_DATE = PMU + 0x3FC
LDO_ANA = PMU + 0x1BC  # external LDO P0 0P1A analog control
LDO = PMU + 0x1B8  # external LDO P0 0P1A control
FLASH_FORCE_ON = 0x3  # PMU_DATE bits holding the flash supply on

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
        addr_msb_aligned=False,
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
    rom=replace(esp32.CHIP.rom, flash_begin_encrypted_word=True, security_info_length=20),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 8, 23, 1), RegisterField(BLOCK1 + 8, 4, 2)),
        minor=(RegisterField(BLOCK1 + 8, 0, 4),),
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
    download_strap=DownloadStrap(
        gpio_strap_reg=0x500E0038,
        spi_boot_mask=0x8,
        option1_reg=0x50110008,
        force_download_mask=0x4,
    ),
    boot_messages=rom_boot_messages(
        "esp32p4-eco2-20240710",
        "Jul 10 2024",
        "boot:0x0 (DOWNLOAD(USB/UART0/SPI))",
        "boot:0x30f (SPI_FAST_FLASH_BOOT)",
    ),
    flash_power_on=FlashPowerOn(
        revisions=(301, 302),
        steps=(
            RegisterUpdate(LP_SYSTEM + 0x10C, value=1, delay=0.01),  # pad group power
            RegisterUpdate(LDO_ANA, set_bits=1 << 27),  # current limit on
            RegisterUpdate(LDO, set_bits=1 << 7),  # force TIEH select
            RegisterUpdate(PMU_DATE, set_bits=FLASH_FORCE_ON, delay=0.00005),
            RegisterUpdate(LDO_ANA, clear_bits=1 << 27),
            RegisterUpdate(LDO, clear_bits=0xFF << 23),  # target voltage from eFuse
            RegisterUpdate(LDO, set_bits=0x80),
            RegisterUpdate(LDO, clear_bits=1 << 7, delay=0.0018),
        ),
        rom_powered_revisions=(302,),
        rom_powered_field=RegisterField(0x5012D034, 16, 1),  # eFuse DOWNLOAD_MODE_XPD_ON
        rom_powered_steps=(
            RegisterUpdate(PMU_DATE, clear_bits=FLASH_FORCE_ON, when_all_set=FLASH_FORCE_ON),
        ),
    ),
)
