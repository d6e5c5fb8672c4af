"""NOR flash as the virtual chip has it: erase sets sectors to 0xFF, programming only clears bits.

The contents can live in a file so that a virtual chip keeps its flash between runs.
"""

from __future__ import annotations

import os
from pathlib import Path

SECTOR_SIZE = 0x1000
ERASED = 0xFF


class FlashRangeError(ValueError):
    """An access past the end of the flash."""


class NorFlash:
    def __init__(self, size: int, backing_file: str | os.PathLike[str] | None = None) -> None:
        if size <= 0 or size % SECTOR_SIZE:
            raise ValueError(f"flash size {size:#x} is not a positive multiple of a sector")
        self.size = size
        self._path = Path(backing_file) if backing_file is not None else None
        self._data = bytearray([ERASED]) * size
        if self._path is not None and self._path.exists():
            stored = self._path.read_bytes()[:size]
            self._data[: len(stored)] = stored

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FlashRangeError(
                f"access {offset:#x}+{length:#x} is past the end of {self.size:#x}-byte flash"
            )

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        return bytes(self._data[offset : offset + length])

    def erase(self, offset: int, length: int) -> None:
        """Erase every sector that [offset, offset+length) touches, as the hardware does."""
        self._check(offset, length)
        if length == 0:
            return
        start = offset - offset % SECTOR_SIZE
        end = -(-(offset + length) // SECTOR_SIZE) * SECTOR_SIZE
        self._data[start:end] = bytes([ERASED]) * (end - start)

    def erase_all(self) -> None:
        self._data[:] = bytes([ERASED]) * self.size

    def program(self, offset: int, data: bytes) -> None:
        """Program `data`: each bit can go from 1 to 0 only, so unerased flash keeps its zeros."""
        self._check(offset, len(data))
        current = int.from_bytes(self._data[offset : offset + len(data)], "little")
        programmed = current & int.from_bytes(data, "little")
        self._data[offset : offset + len(data)] = programmed.to_bytes(len(data), "little")

    def save(self) -> None:
        """Persist the contents to the backing file, if there is one."""
        if self._path is not None:
            temp = self._path.with_name(self._path.name + ".tmp")
            temp.write_bytes(self._data)
            os.replace(temp, self._path)
