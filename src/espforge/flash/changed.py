"""Re-flashing only what changed: the chip's MD5 of each region decides what is sent.

esptool's --skip-flashed compares whole files. Here a file is cut into regions whose bounds lie
on erase-sector multiples; the chip computes each region's MD5 and only the regions whose digest
differs from the file's are erased and written, merged into runs where they touch. A 4 KB change
in a 1.5 MB application then costs one region's transfer plus the digests.

The comparison takes two passes. The first asks for digests of coarse 64 KB regions, so that a
4 MB image costs 64 round trips rather than 256 (the chip's hashing time is the same). A coarse
region that differs alone or beside one other is a local change: its fine regions are compared
to send only what changed. Wider changes (a new build, an erased chip) are sent whole: comparing
their parts would only add hashing.

The write planner is pure: it asks what it needs to know about the flash as `FlashQuestion`s,
and `answer_from_flash` asks the chip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.flash.device import Device
from espforge.logs import library_logger

log = library_logger(__name__)

REGION_SIZE = 4 * FLASH_SECTOR_SIZE  # one flasher-stub block: the finest comparison
COARSE_REGION_SIZE = 16 * FLASH_SECTOR_SIZE  # the first pass, one 64 KB erase block per digest
LOCAL_CHANGE = 2  # at most this many differing coarse regions in a row are looked into

Decided = TypeVar("Decided")


@dataclass(frozen=True)
class FlashQuestion:
    """Whether the flash holds `image` at sector-aligned `address`: as a whole (one MD5), or
    which of its regions differ (`compare_regions`)."""

    address: int
    image: bytes
    source: str  # the file it comes from, for messages
    by_regions: bool = False


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


FlashAnswer = bool | RegionComparison  # the flash holds the whole image / which regions differ


def answer_from_flash(
    device: Device, planning: Generator[FlashQuestion, FlashAnswer, Decided]
) -> Decided:
    """Run `planning` to its decision, answering each question it asks from `device`'s flash."""
    try:
        question = next(planning)
        while True:
            question = planning.send(_answer(device, question))
    except StopIteration as decided:
        return decided.value


def _answer(device: Device, question: FlashQuestion) -> FlashAnswer:
    if not question.by_regions:
        digest = device.flash_md5(question.address, len(question.image))
        return digest == hashlib.md5(question.image).hexdigest()
    comparison = compare_regions(device, question.address, question.image)
    log.info(comparison.describe(question.source))
    return comparison


def compare_regions(
    device: Device, address: int, image: bytes, region_size: int = REGION_SIZE
) -> RegionComparison:
    """Compare `image` (to go at sector-aligned `address`) with the flash, region by region."""
    if address % FLASH_SECTOR_SIZE or region_size % FLASH_SECTOR_SIZE:
        raise ValueError("regions must start and end on erase-sector multiples")
    coarse_size = max(COARSE_REGION_SIZE // region_size, 1) * region_size
    differing = _differing(device, address, image, range(0, len(image), coarse_size), coarse_size)
    changed: list[int] = []  # offsets of the differing fine regions
    for run in runs_of(differing, coarse_size):
        for start in run:
            fine = range(start, min(start + coarse_size, len(image)), region_size)
            if len(run) > LOCAL_CHANGE or len(fine) == 1:
                changed += fine  # all sent: a wide change, or a region already known to differ
            else:
                changed += _differing(device, address, image, fine, region_size)
    runs = [
        (address + run[0], image[run[0] : run[-1] + region_size])
        for run in runs_of(changed, region_size)
    ]
    return RegionComparison(address, len(image), tuple(runs))


def _differing(
    device: Device, address: int, image: bytes, offsets: Sequence[int], size: int
) -> list[int]:
    """Those of `offsets` whose `size` bytes of `image` the flash does not hold."""
    result = []
    for offset in offsets:
        piece = image[offset : offset + size]
        if device.flash_md5(address + offset, len(piece)) != hashlib.md5(piece).hexdigest():
            result.append(offset)
    return result


def runs_of(offsets: list[int], step: int) -> list[list[int]]:
    """Ascending `offsets` grouped into runs `step` apart."""
    runs: list[list[int]] = []
    for offset in offsets:
        if runs and runs[-1][-1] + step == offset:
            runs[-1].append(offset)
        else:
            runs.append([offset])
    return runs
