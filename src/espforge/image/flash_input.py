"""Bytes meant for one flash address, and the rule that keeps two of them apart.

Writing erases whole sectors, so two inputs may not share one: the later would erase part of the
earlier. `sector_overlaps` is that rule, used by every check that refuses or reports overlaps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from espforge.chips.base import FLASH_SECTOR_SIZE


@dataclass(frozen=True)
class FlashInput:
    """Bytes meant for one flash address, and where they came from (a path, for messages)."""

    address: int
    data: bytes
    source: str = "input bytes"

    @property
    def end(self) -> int:
        return self.address + len(self.data)

    @property
    def described(self) -> str:
        return f"{self.source or 'data'} at {self.address:#x}"

    @property
    def span(self) -> str:
        return f"{self.address:#x}-{self.end - 1:#x}" if self.data else f"{self.address:#x}"


def align_down(value: int, alignment: int = FLASH_SECTOR_SIZE) -> int:
    return value - value % alignment


def align_up(value: int, alignment: int = FLASH_SECTOR_SIZE) -> int:
    return -(-value // alignment) * alignment


def sector_overlaps(ordered: Sequence[FlashInput]) -> Iterator[tuple[FlashInput, FlashInput]]:
    """Each (earlier, later) pair of neighbours in `ordered` (sorted by address) where the later
    starts in a sector that the earlier one's data reaches."""
    for earlier, later in pairwise(ordered):
        if align_down(later.address) < align_up(earlier.end):
            yield earlier, later
