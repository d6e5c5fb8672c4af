"""The virtual chip's flash behaves as NOR flash does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from espforge.chips.base import FLASH_SECTOR_SIZE as SECTOR_SIZE
from espforge.virtual.nor_flash import FlashRangeError, NorFlash


def test_new_flash_is_erased() -> None:
    assert NorFlash(0x2000).read(0, 0x2000) == b"\xff" * 0x2000


def test_programming_only_clears_bits() -> None:
    flash = NorFlash(SECTOR_SIZE)
    flash.program(0, b"\x0f\xf0")
    flash.program(0, b"\xf3\x3f")
    assert flash.read(0, 2) == b"\x03\x30"


def test_erase_covers_whole_sectors() -> None:
    flash = NorFlash(3 * SECTOR_SIZE)
    flash.program(0, b"\x00" * (3 * SECTOR_SIZE))
    flash.erase(SECTOR_SIZE + 10, 20)
    assert flash.read(0, SECTOR_SIZE) == b"\x00" * SECTOR_SIZE
    assert flash.read(SECTOR_SIZE, SECTOR_SIZE) == b"\xff" * SECTOR_SIZE
    assert flash.read(2 * SECTOR_SIZE, SECTOR_SIZE) == b"\x00" * SECTOR_SIZE


def test_access_past_the_end_is_refused() -> None:
    flash = NorFlash(SECTOR_SIZE)
    with pytest.raises(FlashRangeError):
        flash.program(SECTOR_SIZE - 1, b"ab")
    with pytest.raises(FlashRangeError):
        flash.erase(SECTOR_SIZE, 1)


def test_contents_persist_in_the_backing_file(tmp_path) -> None:
    path = tmp_path / "flash.bin"
    flash = NorFlash(SECTOR_SIZE, path)
    flash.program(100, b"espforge")
    flash.save()
    assert NorFlash(SECTOR_SIZE, path).read(100, 8) == b"espforge"


@given(st.binary(min_size=1, max_size=64), st.binary(min_size=1, max_size=64))
def test_program_is_bitwise_and_after_erase(first: bytes, second: bytes) -> None:
    flash = NorFlash(SECTOR_SIZE)
    flash.program(0, first)
    flash.program(0, second)
    overlap = min(len(first), len(second))
    expected = bytes(a & b for a, b in zip(first[:overlap], second[:overlap], strict=True))
    assert flash.read(0, overlap) == expected
    flash.erase(0, 1)
    assert flash.read(0, 64) == b"\xff" * 64


def test_backing_file_sees_every_write_at_once(tmp_path) -> None:
    path = tmp_path / "flash.bin"
    flash = NorFlash(2 * SECTOR_SIZE, path)
    assert path.read_bytes() == b"\xff" * 2 * SECTOR_SIZE  # a new file starts erased
    flash.program(SECTOR_SIZE, b"live")
    assert path.read_bytes()[SECTOR_SIZE : SECTOR_SIZE + 4] == b"live"  # no save() needed
    flash.close()
    assert NorFlash(2 * SECTOR_SIZE, path).read(SECTOR_SIZE, 4) == b"live"


def test_short_backing_file_is_extended_erased(tmp_path) -> None:
    path = tmp_path / "flash.bin"
    path.write_bytes(b"\x00" * 10)
    flash = NorFlash(SECTOR_SIZE, path)
    assert flash.read(0, 12) == b"\x00" * 10 + b"\xff\xff"
    flash.close()
    assert path.stat().st_size == SECTOR_SIZE
