"""The data a write or verify works from: address/file pairs read into bytes, checked for layout.

A file is Intel HEX by its content (as esptool decides), and then brings its own addresses:
each contiguous block of it becomes one input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import EspforgeError
from espforge.image.merge import read_merge_input


class FlashInputError(EspforgeError):
    """Inputs that cannot be flashed as given (overlap, past the end of flash, misaligned)."""


@dataclass(frozen=True)
class FlashInput:
    """Bytes meant for one flash address, and where they came from (for messages)."""

    address: int
    data: bytes
    source: str = "input bytes"

    @property
    def end(self) -> int:
        return self.address + len(self.data)


def align_down(value: int, alignment: int = FLASH_SECTOR_SIZE) -> int:
    return value - value % alignment


def align_up(value: int, alignment: int = FLASH_SECTOR_SIZE) -> int:
    return -(-value // alignment) * alignment


def read_inputs(pairs: Iterable[tuple[int, str]]) -> list[FlashInput]:
    """The inputs that address/file pairs stand for; a HEX file gives one per block."""
    return [
        FlashInput(address, data, source)
        for given_address, path in pairs
        for address, data, source in read_merge_input(given_address, path)
    ]


def read_previous_files(paths: Sequence[str | None]) -> list[bytes | None]:
    """--diff-with's files as bytes (None for 'skip'); a HEX file stands for each of its blocks."""
    previous: list[bytes | None] = []
    for path in paths:
        if path is None:
            previous.append(None)
        else:
            previous.extend(data for _, data, _ in read_merge_input(0, path))
    return previous


def check_layout(inputs: Sequence[FlashInput]) -> list[FlashInput]:
    """`inputs` sorted by address, refusing any two that share a flash sector.

    Writing erases whole sectors, so a file that shared a sector with another would erase part
    of it. Empty inputs are let through (they are skipped with a warning when written).
    """
    if not inputs:
        raise FlashInputError("no data to write; give pairs of flash address and file")
    ordered = sorted(inputs, key=lambda item: item.address)
    previous_end = 0
    previous_source = ""
    for item in ordered:
        if item.address < 0:
            raise FlashInputError(f"{item.source}: address {item.address:#x} is negative")
        if align_down(item.address) < previous_end:
            raise FlashInputError(
                f"{item.source}: data at {item.address:#x} overlaps a flash sector of "
                f"{previous_source}; a write erases whole {FLASH_SECTOR_SIZE:#x}-byte sectors, so "
                "give each file sectors of its own"
            )
        previous_end = align_up(item.end)
        previous_source = item.source
    return ordered


def check_fits(inputs: Sequence[FlashInput], flash_end: int, limit_name: str) -> None:
    """Refuse any input that would end past `flash_end` bytes of flash."""
    for item in inputs:
        if item.end > flash_end:
            raise FlashInputError(
                f"{item.source} (length {len(item.data)}) at {item.address:#010x} will not fit "
                f"in the {flash_end} bytes of flash ({limit_name}); use a lower address or a "
                "smaller file"
            )
