"""The binary form's layout: where the table sits in flash, its 32-byte entries and MD5 row,
and the packing of one entry."""

from __future__ import annotations

import struct

from espforge.errors import ImageError
from espforge.image.partition import FLAG_BITS, Partition

DEFAULT_TABLE_OFFSET = 0x8000
TABLE_SECTOR_SIZE = 0x1000  # the table owns this much flash; partitions start after it
MAX_TABLE_LENGTH = 0xC00  # entries and MD5 row stay below this; the rest is for a signature
ENTRY_SIZE = 32
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
MD5_ROW_PREFIX = MD5_MAGIC + b"\xff" * 14
END_MARKER = b"\xff" * ENTRY_SIZE
NAME_SIZE = 16
MAX_ENTRIES = MAX_TABLE_LENGTH // ENTRY_SIZE - 1  # one row must be left for the end marker

_ENTRY = struct.Struct("<2sBBII16sI")


def unpack_entry(row: bytes, where: str, source: str) -> Partition:
    magic, ptype, subtype, offset, size, raw_name, flag_bits = _ENTRY.unpack(row)
    if magic != ENTRY_MAGIC:
        raise ImageError(
            f"{source}: {where} starts with {magic.hex()}, not the entry magic aa50 "
            "(is this a partition table, and at the right offset?)"
        )
    name_bytes, _, padding = raw_name.partition(b"\0")
    if padding.strip(b"\0"):
        raise ImageError(f"{source}: {where}: the name field holds bytes after its NUL")
    try:
        name = name_bytes.decode()
    except UnicodeDecodeError:
        raise ImageError(f"{source}: {where}: the name {name_bytes!r} is not UTF-8") from None
    flags = tuple(flag for flag, bit in FLAG_BITS.items() if flag_bits >> bit & 1)
    unknown_bits = flag_bits & ~sum(1 << bit for bit in FLAG_BITS.values())
    if unknown_bits:
        raise ImageError(
            f"{source}: {where} (partition '{name}'): unknown flag bits {unknown_bits:#x}"
        )
    return Partition(name, ptype, subtype, offset, size, flags, origin=where)


def pack_entry(partition: Partition) -> bytes:
    flag_bits = sum(1 << FLAG_BITS[flag] for flag in partition.flags if flag in FLAG_BITS)
    return _ENTRY.pack(
        ENTRY_MAGIC,
        partition.type,
        partition.subtype,
        partition.offset,
        partition.size,
        partition.name.encode(),
        flag_bits,
    )
