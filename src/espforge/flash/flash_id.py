"""What a SPI flash chip's JEDEC id (the RDID command's 3 bytes) says about it.

The size is read from the id's capacity byte as esptool reads it: most vendors put log2 of the
size in bytes there; Adesto encodes it in the low 5 bits of the middle byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.image.flash_params import flash_size_bytes

ADESTO_VENDOR_ID = 0x1F
XMC_VENDOR_ID = 0x20

_ADESTO_SIZES = {0x04: "512KB", 0x05: "1MB", 0x06: "2MB", 0x07: "4MB", 0x08: "8MB", 0x09: "16MB"}

_CAPACITY_SIZES = {
    0x12: "256KB",
    0x13: "512KB",
    0x14: "1MB",
    0x15: "2MB",
    0x16: "4MB",
    0x17: "8MB",
    0x18: "16MB",
    0x19: "32MB",
    0x1A: "64MB",
    0x1B: "128MB",
    0x1C: "256MB",
    # Some vendors count on from 0x20 or 0x32 instead of 0x12.
    0x20: "64MB",
    0x21: "128MB",
    0x22: "256MB",
    0x32: "256KB",
    0x33: "512KB",
    0x34: "1MB",
    0x35: "2MB",
    0x36: "4MB",
    0x37: "8MB",
    0x38: "16MB",
    0x39: "32MB",
    0x3A: "64MB",
}

# Ids a missing or unpowered flash chip answers with.
NO_FLASH_IDS = (0xFFFFFF, 0x000000, 0xFFFF3F)


@dataclass(frozen=True)
class FlashId:
    """A decoded RDID answer: manufacturer byte, 16-bit device id and the size it implies."""

    raw: int  # the 24 bits as the SPI controller returns them (manufacturer in the low byte)

    @property
    def manufacturer(self) -> int:
        return self.raw & 0xFF

    @property
    def device(self) -> int:
        """Memory type then capacity byte, as datasheets write the device id."""
        return ((self.raw >> 8) & 0xFF) << 8 | (self.raw >> 16) & 0xFF

    @property
    def size_name(self) -> str | None:
        """The flash size ("4MB") the id implies, or None when the id does not say."""
        if self.manufacturer == ADESTO_VENDOR_ID:
            return _ADESTO_SIZES.get((self.raw >> 8) & 0x1F)
        return _CAPACITY_SIZES.get(self.raw >> 16)

    @property
    def size(self) -> int | None:
        name = self.size_name
        return None if name is None else flash_size_bytes(name)

    @property
    def answered(self) -> bool:
        """False when the id is what an absent flash chip reads as."""
        return self.raw not in NO_FLASH_IDS
