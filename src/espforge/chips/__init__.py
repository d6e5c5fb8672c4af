"""Every chip espforge knows, as data. Ask here; never branch on a chip's name elsewhere."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from espforge.errors import EspforgeError

if TYPE_CHECKING:
    from espforge.chips.base import ChipSpec, MemoryRegion, SpiRegisters

__all__ = [
    "CHIP_NAMES",
    "ChipSpec",
    "MemoryRegion",
    "SpiRegisters",
    "all_chips",
    "chip_by_image_id",
    "get_chip",
]

# The order esptool lists them in its --chip choices.
CHIP_NAMES: tuple[str, ...] = (
    "esp8266",
    "esp32",
    "esp32s2",
    "esp32s3",
    "esp32c3",
    "esp32c2",
    "esp32c6",
    "esp32c61",
    "esp32c5",
    "esp32e22",
    "esp32h2",
    "esp32h21",
    "esp32p4",
    "esp32h4",
    "esp32s31",
)


def get_chip(name: str) -> ChipSpec:
    """The chip called `name` (case and dashes ignored: "ESP32-C3" and "esp32c3" are the same)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in CHIP_NAMES:
        raise EspforgeError(f"unknown chip '{name}': choose one of {', '.join(CHIP_NAMES)}")
    return import_module(f"espforge.chips.{key}").CHIP


def all_chips() -> list[ChipSpec]:
    return [get_chip(name) for name in CHIP_NAMES]


def chip_by_image_id(image_chip_id: int) -> ChipSpec | None:
    """The ESP32-family chip whose images carry `image_chip_id` in the extended header."""
    for chip in all_chips():
        if chip.image_chip_id == image_chip_id:
            return chip
    return None


def __getattr__(name: str) -> Any:
    # The chip classes load on first use: the command line lists chip names at start-up and
    # building the dataclasses is most of the package's import time.
    if name in ("ChipSpec", "MemoryRegion", "SpiRegisters"):
        return getattr(import_module("espforge.chips.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
