"""ESP32-H2: facts as data (esptool 5.6's target description, the reference pages).

The ESP32-H2 shares the ESP32-C6's facts except those listed here.
"""

from dataclasses import replace

from espforge.chips import esp32c6
from espforge.chips.base import frozen_map

CHIP = replace(
    esp32c6.CHIP,
    name="esp32h2",
    chip_name="ESP32-H2",
    image_chip_id=0x10,
    uf2_family_id=0x332726F6,
    flash_frequencies=frozen_map({"48m": 0xF, "24m": 0x0, "16m": 0x1, "12m": 0x2}),
)
