"""UF2 output (https://github.com/microsoft/uf2) for USB mass-storage flashing of Espressif chips.

Every block is 512 bytes: a 32-byte header, a 476-byte data area and a closing magic word. Each
block is tagged with the chip's family id, and by default the data area also carries the
payload's address, length and MD5 (Espressif's checksum extension) after the payload. Block
numbers count from zero within each input region, as esptool writes them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

from espforge.errors import ImageError

BLOCK_SIZE = 512
DATA_AREA_SIZE = 476
MD5_PART_SIZE = 24  # address, length and the 16-byte MD5 of the payload
FIRST_MAGIC = 0x0A324655
SECOND_MAGIC = 0x9E5D5157
FINAL_MAGIC = 0x0AB16F30
FLAG_FAMILY_ID_PRESENT = 0x00002000
FLAG_MD5_PRESENT = 0x00004000

_HEADER = struct.Struct("<8I")
_MD5_PREFIX = struct.Struct("<II")
_FINAL = struct.pack("<I", FINAL_MAGIC)


def max_chunk_size(md5_enabled: bool = True) -> int:
    """The largest payload a block can carry (the default chunk size)."""
    return DATA_AREA_SIZE - (MD5_PART_SIZE if md5_enabled else 0)


def check_chunk_size(chunk_size: int, md5_enabled: bool = True) -> None:
    """Refuse a payload size that is not a positive multiple of 4 fitting in one block."""
    largest = max_chunk_size(md5_enabled)
    if chunk_size <= 0 or chunk_size % 4 or chunk_size > largest:
        raise ImageError(
            f"UF2 chunk size {chunk_size} is invalid; give a multiple of 4 from 4 to {largest}"
        )


def encode_uf2(
    regions: Iterable[tuple[int, bytes]],
    family_id: int,
    chunk_size: int | None = None,
    md5_enabled: bool = True,
) -> bytes:
    """UF2 blocks carrying each (flash address, data) region, in the order given."""
    if chunk_size is None:
        chunk_size = max_chunk_size(md5_enabled)
    check_chunk_size(chunk_size, md5_enabled)
    flags = FLAG_FAMILY_ID_PRESENT | (FLAG_MD5_PRESENT if md5_enabled else 0)
    blocks: list[bytes] = []
    for address, data in regions:
        block_count = -(-len(data) // chunk_size)
        for block_number, start in enumerate(range(0, len(data), chunk_size)):
            payload = data[start : start + chunk_size]
            block_address = address + start
            header = _HEADER.pack(
                FIRST_MAGIC,
                SECOND_MAGIC,
                flags,
                block_address,
                len(payload),
                block_number,
                block_count,
                family_id,
            )
            md5_part = (
                _MD5_PREFIX.pack(block_address, len(payload)) + hashlib.md5(payload).digest()
                if md5_enabled
                else b""
            )
            padding = bytes(DATA_AREA_SIZE - len(payload) - len(md5_part))
            blocks.append(header + payload + md5_part + padding + _FINAL)
    return b"".join(blocks)
