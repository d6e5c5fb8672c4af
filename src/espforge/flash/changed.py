"""Re-flashing only what changed: the chip's MD5 of each region decides what is sent.

esptool's --skip-flashed compares whole files. Here a file is cut into regions whose bounds lie
on erase-sector multiples; the chip computes each region's MD5 and only the regions whose digest
differs from the file's are erased and written, merged into runs where they touch. A 4 KB change
in a 1.5 MB application then costs one region's transfer plus the digests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from espforge.flash.device import Device
from espforge.flash.inputs import SECTOR_SIZE

REGION_SIZE = 4 * SECTOR_SIZE  # one flasher-stub block: fine-grained, few round trips


@dataclass(frozen=True)
class RegionComparison:
    """Which parts of an image at `address` differ from the flash."""

    address: int
    size: int
    changed: tuple[tuple[int, bytes], ...]  # (sector-aligned address, new bytes) runs

    @property
    def skipped(self) -> int:
        return self.size - sum(len(data) for _, data in self.changed)

    def describe(self, source: str) -> str:
        return (
            f"'{source}': {self.skipped} of {self.size} bytes already in flash are skipped, "
            f"{self.size - self.skipped} bytes in {len(self.changed)} region(s) differ."
        )


def compare_regions(
    device: Device, address: int, image: bytes, region_size: int = REGION_SIZE
) -> RegionComparison:
    """Compare `image` (to go at sector-aligned `address`) with the flash, region by region."""
    if address % SECTOR_SIZE or region_size % SECTOR_SIZE:
        raise ValueError("regions must start and end on erase-sector multiples")
    runs: list[tuple[int, bytearray]] = []
    for offset in range(0, len(image), region_size):
        piece = image[offset : offset + region_size]
        if device.flash_md5(address + offset, len(piece)) == hashlib.md5(piece).hexdigest():
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == address + offset:
            runs[-1][1].extend(piece)
        else:
            runs.append((address + offset, bytearray(piece)))
    changed = tuple((start, bytes(data)) for start, data in runs)
    return RegionComparison(address, len(image), changed)
