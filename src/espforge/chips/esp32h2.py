"""ESP32-H2: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-H2 shares the ESP32-C6's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c6
from espforge.chips.base import (
    ChipRevisionFields,
    CrystalFacts,
    EfuseMac,
    RegisterField,
    frozen_map,
    rom_boot_messages,
)

BLOCK1 = 0x600B0844  # eFuse block 1, word n at + 4 * n
LP_WDT = 0x600B1C00

CHIP = replace(
    esp32c6.CHIP,
    name="esp32h2",
    chip_name="ESP32-H2",
    image_chip_id=0x10,
    uf2_family_id=0x332726F6,
    flash_frequencies=frozen_map({"48m": 0xF, "24m": 0x0, "16m": 0x1, "12m": 0x2}),
    mac=EfuseMac(low_word=BLOCK1, high_word=BLOCK1 + 4, has_eui64=True),
    revision=ChipRevisionFields(
        major=(RegisterField(BLOCK1 + 12, 21, 2),),
        minor=(RegisterField(BLOCK1 + 12, 18, 3),),
    ),
    crystal=CrystalFacts(fixed_mhz=32),
    watchdog=replace(
        esp32c6.CHIP.watchdog,
        wdt_protect=LP_WDT + 0x1C,
        swd_config=LP_WDT + 0x20,
        swd_protect=LP_WDT + 0x24,
    ),
    boot_messages=rom_boot_messages(
        "esp32h2-20221101",
        "Nov  1 2022",
        "boot:0x4 (DOWNLOAD(USB/UART0))",
        "boot:0xc (SPI_FAST_FLASH_BOOT)",
    ),
)
