"""NOR flash as the virtual chip has it: erase sets sectors to 0xFF, programming only clears bits.

The contents can live in a file so that a virtual chip keeps its flash between runs. The file is
memory-mapped, so every erase and program reaches it at once (as on a real chip, nothing is lost
when the process using the chip dies) and other processes can read it while the chip runs.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from espforge.chips.base import FLASH_SECTOR_SIZE

BLOCK_SIZE = 0x10000
ERASED = 0xFF


class FlashRangeError(ValueError):
    """An access past the end of the flash."""


class NorFlash:
    def __init__(self, size: int, backing_file: str | os.PathLike[str] | None = None) -> None:
        if size <= 0 or size % FLASH_SECTOR_SIZE:
            raise ValueError(f"flash size {size:#x} is not a positive multiple of a sector")
        self.size = size
        self.path = Path(backing_file) if backing_file is not None else None
        self._file = None
        if self.path is None:
            self._data: bytearray | mmap.mmap = bytearray([ERASED]) * size
        else:
            self._data = self._map_file(self.path)

    def _map_file(self, path: Path) -> mmap.mmap:
        """Map the first `size` bytes of the file, extending a short (or new) file with 0xFF."""
        self._file = open(path, "a+b")  # noqa: SIM115 - held open for the mapping's lifetime
        stored = os.fstat(self._file.fileno()).st_size
        if stored < self.size:
            self._file.write(bytes([ERASED]) * (self.size - stored))
            self._file.flush()
        return mmap.mmap(self._file.fileno(), self.size)

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
        start = offset - offset % FLASH_SECTOR_SIZE
        end = -(-(offset + length) // FLASH_SECTOR_SIZE) * FLASH_SECTOR_SIZE
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
        """Make sure the backing file, if there is one, holds the contents."""
        if isinstance(self._data, mmap.mmap):
            self._data.flush()

    def close(self) -> None:
        """Release the backing file (the contents stay in it)."""
        if isinstance(self._data, mmap.mmap) and not self._data.closed:
            self._data.flush()
            self._data.close()
        if self._file is not None:
            self._file.close()
            self._file = None
