"""ESP-IDF partition tables: the model to query, the rules, and reading and writing the CSV
and binary forms. One entry's vocabulary is in `partition`, the binary layout in
`partition_binary`, the CSV reader's parts in `partition_csv`.

The binary form is what sits in flash at the table offset (0x8000 by default): 32-byte entries,
an optional MD5 row over them, then 0xFF up to 0xC00 bytes. The CSV form is what ESP-IDF
projects keep in `partitions.csv`. Converting between them gives the same bytes and text as
ESP-IDF's generator. Every parser raises only `ImageError`, with one line naming the CSV line or
table entry, the partition and the rule it breaks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise

from espforge.errors import ImageError
from espforge.image.partition import (
    APP,
    COREDUMP,
    CUSTOM_TYPES,
    DATA,
    FACTORY,
    FLAG_BITS,
    NVS,
    OFFSET_ALIGN,
    OTA_SUBTYPES,
    OTADATA,
    SUBTYPE_RANGE,
    TYPE_NAMES,
    Partition,
    is_primary_boot_entry,
    offset_alignment,
    resolve_subtype,
    resolve_type,
    size_text,
    subtype_name,
    type_name,
)
from espforge.image.partition_binary import (
    DEFAULT_TABLE_OFFSET,
    END_MARKER,
    ENTRY_MAGIC,
    ENTRY_SIZE,
    MAX_ENTRIES,
    MAX_TABLE_LENGTH,
    MD5_MAGIC,
    MD5_ROW_PREFIX,
    NAME_SIZE,
    TABLE_SECTOR_SIZE,
    pack_entry,
    unpack_entry,
)
from espforge.image.partition_csv import Placer, csv_fields, expand_variables

MAX_UINT32 = 0xFFFFFFFF
APP_SIZE_ALIGN = 0x1000
SECURE_APP_SIZE_ALIGN = 0x10000  # secure boot puts the signature at the end of a 64K block
OTADATA_SIZE = 0x2000
NVS_MIN_WRITABLE_SIZE = 0x3000  # smaller NVS partitions can only be read-only

CSV_HEADER = "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n"


@dataclass(frozen=True)
class PartitionTable:
    """The partitions in table order, and the flash offset the table itself lives at."""

    partitions: tuple[Partition, ...]
    offset: int = DEFAULT_TABLE_OFFSET

    def __iter__(self) -> Iterator[Partition]:
        return iter(self.partitions)

    def __len__(self) -> int:
        return len(self.partitions)

    @property
    def first_free_offset(self) -> int:
        """Where partitions may begin: right after the table's sector."""
        return self.offset + TABLE_SECTOR_SIZE

    @property
    def end(self) -> int:
        """The flash the partitions need: the end of the one that ends last."""
        return max((partition.end for partition in self), default=0)

    def find(self, name: str) -> Partition | None:
        return next((partition for partition in self if partition.name == name), None)

    def get(self, name: str) -> Partition:
        """The partition called `name`, or an error listing the names there are."""
        partition = self.find(name)
        if partition is None:
            names = ", ".join(p.name for p in self) or "none"
            raise ImageError(f"no partition named '{name}' in the table (it has: {names})")
        return partition

    def find_by_type(
        self, partition_type: int | str, subtype: int | str | None = None
    ) -> Partition | None:
        """The first partition of this type (and subtype), given as names or numbers."""
        wanted_type = resolve_type(partition_type)
        wanted_subtype = None if subtype is None else resolve_subtype(wanted_type, subtype)
        return next(
            (
                partition
                for partition in self
                if partition.type == wanted_type
                and (wanted_subtype is None or partition.subtype == wanted_subtype)
            ),
            None,
        )

    def boot_default(self) -> Partition | None:
        """The app the bootloader starts with blank OTA data: factory, else ota_0."""
        return self.find_by_type(APP, FACTORY) or self.find_by_type(APP, OTA_SUBTYPES[0])

    def ota_slots(self) -> list[Partition]:
        """The OTA app partitions in subtype order: slot i is the i-th of them."""
        return sorted((p for p in self if p.is_ota_app), key=lambda partition: partition.subtype)

    def otadata(self) -> Partition | None:
        return next((partition for partition in self if partition.is_otadata), None)

    def free_gaps(self, flash_size: int | None = None) -> list[tuple[int, int]]:
        """Unused [start, end) ranges from the end of the table's sector up to `flash_size`
        (or up to the end of the last partition when no size is known)."""
        limit = self.end if flash_size is None else flash_size
        gaps = []
        position = self.first_free_offset
        for partition in sorted(self, key=lambda p: p.offset):
            if partition.offset > position:
                gaps.append((position, min(partition.offset, limit)))
            position = max(position, partition.end)
        if position < limit:
            gaps.append((position, limit))
        return [(start, end) for start, end in gaps if start < end]

    def to_binary(self, md5: bool = True) -> bytes:
        """The table as it is written to flash, padded with 0xFF to 0xC00 bytes."""
        check_table(self)
        entries = b"".join(pack_entry(partition) for partition in self)
        table = entries + (MD5_ROW_PREFIX + hashlib.md5(entries).digest() if md5 else b"")
        if len(table) >= MAX_TABLE_LENGTH:
            md5_hint = " (or leave out the MD5 row)" if md5 else ""
            raise ImageError(
                f"the binary table would take {len(table)} bytes but must stay below "
                f"{MAX_TABLE_LENGTH:#x}: use fewer partitions{md5_hint}"
            )
        return table + b"\xff" * (MAX_TABLE_LENGTH - len(table))

    def to_csv(self) -> str:
        """The table as ESP-IDF's generator writes CSV: names where known, sizes as NK/NM."""
        return CSV_HEADER + "".join(_csv_row(partition) + "\n" for partition in self)


# ------------------------------------------------------------------------- the rules


def check_table(
    table: PartitionTable,
    *,
    secure: bool = False,
    flash_size: int | None = None,
    source: str = "partition table",
) -> None:
    """Raise ImageError naming the first partition that breaks one of ESP-IDF's rules."""
    try:
        if table.offset % OFFSET_ALIGN:
            raise ImageError(f"the table offset {table.offset:#x} is not a multiple of 0x1000")
        if len(table) > MAX_ENTRIES:
            raise ImageError(f"has {len(table)} partitions; at most {MAX_ENTRIES} fit a table")
        for partition in table:
            _check_partition(partition, table, secure)
        _check_unique_names(table)
        _check_overlaps(table)
        _check_otadata(table)
        if flash_size is not None:
            _check_fits(table, flash_size)
    except ImageError as error:
        raise ImageError(f"{source}: {error}") from None


def _check_partition(partition: Partition, table: PartitionTable, secure: bool) -> None:
    problem = next(_partition_problems(partition, table, secure), None)
    if problem is not None:
        raise ImageError(f"{partition.described}: {problem}")


def _partition_problems(partition: Partition, table: PartitionTable, secure: bool) -> Iterator[str]:
    """Each rule one partition breaks, as text; the caller reports the first."""
    yield from _name_problems(partition.name)
    if partition.type not in TYPE_NAMES.values() and partition.type not in CUSTOM_TYPES:
        yield f"type {partition.type:#x} is not app, data, bootloader, partition_table or 0x40-0xfe"
    if partition.subtype not in SUBTYPE_RANGE:
        yield f"subtype {partition.subtype:#x} is outside 0x00-0xfe"
    yield from _place_problems(partition, table)
    yield from _size_problems(partition, secure)
    yield from _flag_problems(partition)


def _name_problems(name: str) -> Iterator[str]:
    if not name:
        yield "has no name; every partition needs one"
    elif "\0" in name:
        yield "its name contains a NUL character"
    elif len(name.encode()) > NAME_SIZE:
        yield f"name is {len(name.encode())} bytes long; at most {NAME_SIZE} fit an entry"


def _place_problems(partition: Partition, table: PartitionTable) -> Iterator[str]:
    if not 0 <= partition.offset <= MAX_UINT32:
        yield f"offset {partition.offset:#x} is not a 32-bit flash address"
    elif partition.offset % offset_alignment(partition.type):
        align = offset_alignment(partition.type)
        kind = "app" if partition.is_app else "non-app"
        yield f"offset {partition.offset:#x} is not aligned to {align:#x} ({kind} partitions)"
    elif partition.offset < table.first_free_offset and not is_primary_boot_entry(
        partition.type, partition.subtype
    ):
        yield (
            f"offset {partition.offset:#x} is below {table.first_free_offset:#x}, the end of "
            f"the partition table's sector at {table.offset:#x}"
        )


def _size_problems(partition: Partition, secure: bool) -> Iterator[str]:
    if partition.size <= 0:
        yield f"size {partition.size:#x} is not positive"
    elif partition.offset + partition.size > MAX_UINT32 + 1:
        yield f"size {partition.size:#x} runs past the 4 GB address space"
    elif partition.is_app and partition.size % (align := _app_size_align(secure)):
        why = " with secure boot" if secure else ""
        yield f"app size {partition.size:#x} is not a multiple of {align:#x}{why}"
    elif (
        partition.type == DATA
        and partition.subtype == NVS
        and partition.size < NVS_MIN_WRITABLE_SIZE
        and not partition.readonly
    ):
        yield (
            f"NVS size {partition.size:#x} is below {NVS_MIN_WRITABLE_SIZE:#x}, the minimum "
            "for a writable NVS: make it larger or flag it readonly"
        )


def _app_size_align(secure: bool) -> int:
    return SECURE_APP_SIZE_ALIGN if secure else APP_SIZE_ALIGN


def _flag_problems(partition: Partition) -> Iterator[str]:
    for flag in partition.flags:
        if flag not in FLAG_BITS:
            yield f"unknown flag '{flag}' (known: {', '.join(FLAG_BITS)})"
    always_writable = partition.is_app or (
        partition.type == DATA and partition.subtype in (OTADATA, COREDUMP)
    )
    if partition.readonly and always_writable:
        yield f"{partition.type_label}/{partition.subtype_label} partitions cannot be readonly"


def _check_unique_names(table: PartitionTable) -> None:
    seen: dict[str, Partition] = {}
    for partition in table:
        first = seen.setdefault(partition.name, partition)
        if first is not partition:
            also = f" (also {first.origin})" if first.origin else ""
            raise ImageError(f"{partition.described}: the name is used twice{also}")


def _check_overlaps(table: PartitionTable) -> None:
    ordered = sorted(table, key=lambda partition: partition.offset)
    for earlier, later in pairwise(ordered):
        if later.offset < earlier.end:
            raise ImageError(
                f"{later.described}: at {later.offset:#x} it overlaps partition "
                f"'{earlier.name}' ({earlier.offset:#x}-{earlier.end - 1:#x})"
            )


def _check_otadata(table: PartitionTable) -> None:
    otadata = [partition for partition in table if partition.is_otadata]
    if len(otadata) > 1:
        raise ImageError(f"{otadata[1].described}: a second data/ota partition; one at most")
    if otadata and otadata[0].size != OTADATA_SIZE:
        raise ImageError(
            f"{otadata[0].described}: data/ota size is {otadata[0].size:#x}, "
            f"it must be exactly {OTADATA_SIZE:#x}"
        )


def _check_fits(table: PartitionTable, flash_size: int) -> None:
    for partition in table:
        if partition.end > flash_size:
            raise ImageError(
                f"{partition.described}: ends at {partition.end:#x}, beyond the "
                f"{size_text(flash_size)}B flash ({flash_size:#x} bytes)"
            )


# ------------------------------------------------------------------------ binary form


def is_binary_table(data: bytes) -> bool:
    """Whether `data` starts like a binary table (an entry, an MD5 row or the end marker)."""
    return data[:2] in (ENTRY_MAGIC, MD5_MAGIC, b"\xff\xff")


def parse_binary(
    data: bytes,
    *,
    table_offset: int = DEFAULT_TABLE_OFFSET,
    secure: bool = False,
    flash_size: int | None = None,
    source: str = "partition table",
) -> PartitionTable:
    """Read a binary table (a dump of its sector, or just its entries) and check every rule.

    The table ends at the end marker, at 0xC00 bytes, or at the end of `data`. A wrong MD5
    row is refused.
    """
    partitions: list[Partition] = []
    digest = hashlib.md5()
    region = data[:MAX_TABLE_LENGTH]
    for position in range(0, len(region), ENTRY_SIZE):
        row = region[position : position + ENTRY_SIZE]
        if row == END_MARKER:
            break
        where = f"entry {position // ENTRY_SIZE + 1}"
        if len(row) < ENTRY_SIZE:
            raise ImageError(f"{source}: {where} is cut short at {len(row)} of 32 bytes")
        if row[:2] == MD5_MAGIC:
            if row[16:] != digest.digest():
                raise ImageError(
                    f"{source}: {where}: the MD5 row ({row[16:].hex()}) does not match the "
                    f"entries before it ({digest.hexdigest()}); the table is corrupt"
                )
            continue
        digest.update(row)
        partitions.append(unpack_entry(row, where, source))
    table = PartitionTable(tuple(partitions), table_offset)
    check_table(table, secure=secure, flash_size=flash_size, source=source)
    return table


# --------------------------------------------------------------------------- CSV form


def parse_csv(
    text: str,
    *,
    table_offset: int = DEFAULT_TABLE_OFFSET,
    secure: bool = False,
    flash_size: int | None = None,
    bootloader_offset: int | None = None,
    environ: Mapping[str, str] | None = None,
    source: str = "partition table CSV",
) -> PartitionTable:
    """Read ESP-IDF's CSV form, fill empty offsets and negative sizes, and check every rule.

    `bootloader_offset` is where a bootloader/primary entry with no offset goes; `environ`
    (default os.environ) supplies `$VAR`s.
    """
    variables = os.environ if environ is None else environ
    placer = Placer(table_offset, bootloader_offset)
    partitions = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"line {number}"
        try:
            fields = csv_fields(expand_variables(line, variables))
            partitions.append(placer.place(fields, where))
        except ImageError as error:
            raise ImageError(f"{source}: {where}: {error}") from None
    table = PartitionTable(tuple(partitions), table_offset)
    check_table(table, secure=secure, flash_size=flash_size, source=source)
    return table


def _csv_row(partition: Partition) -> str:
    ptype = type_name(partition.type) or str(partition.type)
    subtype = subtype_name(partition.type, partition.subtype) or str(partition.subtype)
    return ",".join(
        (
            partition.name,
            ptype,
            subtype,
            f"{partition.offset:#x}",
            size_text(partition.size),
            ":".join(partition.flags),
        )
    )
