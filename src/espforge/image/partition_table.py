"""ESP-IDF partition tables: the CSV and binary forms, the rules, and a model to query.

The binary form is what sits in flash at the table offset (0x8000 by default): 32-byte entries,
an optional MD5 row over them, then 0xFF up to 0xC00 bytes. The CSV form is what ESP-IDF
projects keep in `partitions.csv`. Converting between them gives the same bytes and text as
ESP-IDF's generator. Every parser raises only `ImageError`, with one line naming the CSV line or
table entry, the partition and the rule it breaks.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from espforge.errors import ImageError

DEFAULT_TABLE_OFFSET = 0x8000
TABLE_SECTOR_SIZE = 0x1000  # the table owns this much flash; partitions start after it
MAX_TABLE_LENGTH = 0xC00  # entries and MD5 row stay below this; the rest is for a signature
ENTRY_SIZE = 32
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
MD5_ROW_PREFIX = MD5_MAGIC + b"\xff" * 14
END_MARKER = b"\xff" * ENTRY_SIZE
NAME_SIZE = 16
MAX_UINT32 = 0xFFFFFFFF

APP, DATA, BOOTLOADER, PARTITION_TABLE = 0x00, 0x01, 0x02, 0x03
CUSTOM_TYPES = range(0x40, 0xFF)
SUBTYPE_RANGE = range(0x00, 0xFF)  # 0xFF means "any" to ESP-IDF's API, never a stored value
OTA_SUBTYPES = range(0x10, 0x20)
FACTORY, OTADATA, COREDUMP, NVS, UNDEFINED = 0x00, 0x00, 0x03, 0x02, 0x06
PRIMARY = 0x00

TYPE_NAMES: Mapping[str, int] = {
    "app": APP,
    "data": DATA,
    "bootloader": BOOTLOADER,
    "partition_table": PARTITION_TABLE,
}
SUBTYPE_NAMES: Mapping[int, Mapping[str, int]] = {
    APP: {
        "factory": FACTORY,
        **{f"ota_{index}": OTA_SUBTYPES[index] for index in range(len(OTA_SUBTYPES))},
        "test": 0x20,
        "tee_0": 0x30,
        "tee_1": 0x31,
    },
    DATA: {
        "ota": OTADATA,
        "phy": 0x01,
        "nvs": NVS,
        "coredump": COREDUMP,
        "nvs_keys": 0x04,
        "efuse": 0x05,
        "undefined": UNDEFINED,
        "esphttpd": 0x80,
        "fat": 0x81,
        "spiffs": 0x82,
        "littlefs": 0x83,
    },
    BOOTLOADER: {"primary": PRIMARY, "ota": 0x01, "recovery": 0x02},
    PARTITION_TABLE: {"primary": PRIMARY, "ota": 0x01},
}
FLAG_BITS: Mapping[str, int] = {"encrypted": 0, "readonly": 1}

APP_OFFSET_ALIGN = 0x10000
OFFSET_ALIGN = 0x1000  # every type but app
APP_SIZE_ALIGN = 0x1000
SECURE_APP_SIZE_ALIGN = 0x10000  # secure boot puts the signature at the end of a 64K block
OTADATA_SIZE = 0x2000
NVS_MIN_WRITABLE_SIZE = 0x3000  # smaller NVS partitions can only be read-only
MAX_ENTRIES = MAX_TABLE_LENGTH // ENTRY_SIZE - 1  # one row must be left for the end marker

CSV_HEADER = "# ESP-IDF Partition Table\n# Name, Type, SubType, Offset, Size, Flags\n"

_ENTRY = struct.Struct("<2sBBII16sI")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
_CSV_FIELDS = ("name", "type", "subtype", "offset", "size", "flags")


def offset_alignment(partition_type: int) -> int:
    return APP_OFFSET_ALIGN if partition_type == APP else OFFSET_ALIGN


def type_name(partition_type: int) -> str | None:
    return next((name for name, value in TYPE_NAMES.items() if value == partition_type), None)


def subtype_name(partition_type: int, subtype: int) -> str | None:
    names = SUBTYPE_NAMES.get(partition_type, {})
    return next((name for name, value in names.items() if value == subtype), None)


def size_text(size: int) -> str:
    """A size as ESP-IDF's generator writes it: NM or NK where exact, else hex."""
    for unit, suffix in ((0x100000, "M"), (0x400, "K")):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return f"{size:#x}"


@dataclass(frozen=True)
class Partition:
    """One table entry. `origin` says where it came from ("line 4", "entry 2") for messages."""

    name: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # One spelling per flag set, in bit order, so equal partitions compare equal.
        known = [flag for flag in FLAG_BITS if flag in self.flags]
        unknown = sorted(set(self.flags) - set(FLAG_BITS))
        object.__setattr__(self, "flags", (*known, *unknown))

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def encrypted(self) -> bool:
        return "encrypted" in self.flags

    @property
    def readonly(self) -> bool:
        return "readonly" in self.flags

    @property
    def is_app(self) -> bool:
        return self.type == APP

    @property
    def is_ota_app(self) -> bool:
        return self.type == APP and self.subtype in OTA_SUBTYPES

    @property
    def is_otadata(self) -> bool:
        return self.type == DATA and self.subtype == OTADATA

    @property
    def type_label(self) -> str:
        """The type's name, or its number in hex for custom types."""
        return type_name(self.type) or f"{self.type:#04x}"

    @property
    def subtype_label(self) -> str:
        return subtype_name(self.type, self.subtype) or f"{self.subtype:#04x}"

    @property
    def described(self) -> str:
        """How messages name it: "line 4 (partition 'factory')" or "partition 'factory'"."""
        label = f"partition '{self.name}'"
        return f"{self.origin} ({label})" if self.origin else label

    def overlaps(self, start: int, end: int) -> bool:
        return self.offset < end and start < self.end


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
        entries = b"".join(_pack_entry(partition) for partition in self)
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


# ------------------------------------------------------------------- names and numbers


def resolve_type(value: int | str) -> int:
    """A type given as a name (any case) or a number."""
    if isinstance(value, int):
        return value
    return _keyword_or_number(value.strip(), TYPE_NAMES, "type")


def resolve_subtype(partition_type: int, value: int | str) -> int:
    if isinstance(value, int):
        return value
    return _keyword_or_number(value.strip(), SUBTYPE_NAMES.get(partition_type, {}), "subtype")


def _keyword_or_number(text: str, keywords: Mapping[str, int], what: str) -> int:
    if text.lower() in keywords:
        return keywords[text.lower()]
    try:
        return parse_number(text, what)
    except ImageError:
        known = f" or one of {', '.join(keywords)}" if keywords else ""
        raise ImageError(f"{what} '{text}' is not known: give a number{known}") from None


def parse_number(text: str, what: str = "value") -> int:
    """Decimal or 0x hex, with an optional K or M suffix (x1024, x1024*1024)."""
    factor = {"k": 1024, "m": 1024 * 1024}.get(text[-1:].lower(), 1)
    digits = text[:-1] if factor > 1 else text
    try:
        return int(digits, 0) * factor
    except ValueError:
        raise ImageError(
            f"{what} '{text}' is not a number (write it in decimal or 0x hex, "
            "optionally followed by K or M)"
        ) from None


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
    elif partition.offset < table.first_free_offset and not _is_primary_boot_entry(
        partition.type, partition.subtype
    ):
        yield (
            f"offset {partition.offset:#x} is below {table.first_free_offset:#x}, the end of "
            f"the partition table's sector at {table.offset:#x}"
        )


def _is_primary_boot_entry(ptype: int, subtype: int) -> bool:
    """bootloader/primary and partition_table/primary describe what lies below the table."""
    return ptype in (BOOTLOADER, PARTITION_TABLE) and subtype == PRIMARY


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
        partitions.append(_unpack_entry(row, where, source))
    table = PartitionTable(tuple(partitions), table_offset)
    check_table(table, secure=secure, flash_size=flash_size, source=source)
    return table


def _unpack_entry(row: bytes, where: str, source: str) -> Partition:
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


def _pack_entry(partition: Partition) -> bytes:
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
    placer = _Placer(table_offset, bootloader_offset)
    partitions = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"line {number}"
        try:
            fields = _csv_fields(_expand_variables(line, variables))
            partitions.append(placer.place(fields, where))
        except ImageError as error:
            raise ImageError(f"{source}: {where}: {error}") from None
    table = PartitionTable(tuple(partitions), table_offset)
    check_table(table, secure=secure, flash_size=flash_size, source=source)
    return table


def _expand_variables(line: str, variables: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ImageError(f"unknown variable ${name}: set it in the environment")
        return variables[name]

    return _VARIABLE.sub(value, line)


def _csv_fields(line: str) -> dict[str, str]:
    values = [value.strip() for value in line.split(",")]
    extra = [value for value in values[len(_CSV_FIELDS) :] if value]
    if extra:
        raise ImageError(
            f"has {len(values)} fields; a partition line has at most 6 "
            "(Name, Type, SubType, Offset, Size, Flags; flags are joined with ':')"
        )
    values += [""] * (len(_CSV_FIELDS) - len(values))
    fields = dict(zip(_CSV_FIELDS, values[: len(_CSV_FIELDS)], strict=True))
    for name in ("offset", "size"):  # ESP-IDF's bootloader entries write N/A for "derived"
        if fields[name].upper() == "N/A":
            fields[name] = ""
    return fields


class _Placer:
    """Turns CSV fields into partitions, filling empty offsets as the generator does."""

    def __init__(self, table_offset: int, bootloader_offset: int | None) -> None:
        self.table_offset = table_offset
        self.bootloader_offset = bootloader_offset
        self.next_free = table_offset + TABLE_SECTOR_SIZE

    def place(self, fields: Mapping[str, str], where: str) -> Partition:
        if not fields["name"]:
            raise ImageError("the name field is empty")
        if not fields["type"]:
            raise ImageError("the type field is empty")
        ptype = resolve_type(fields["type"])
        subtype = self._subtype(ptype, fields["subtype"])
        offset = self._offset(ptype, subtype, fields["offset"])
        size = self._size(ptype, fields["size"])
        if size < 0:  # "-N": the partition ends at N
            size = -size - offset
            if size <= 0:
                raise ImageError(f"size '{fields['size']}' ends it before its offset {offset:#x}")
        if not _is_primary_boot_entry(ptype, subtype):  # they take no part in the placing
            self.next_free = offset + size
        flags = tuple(flag for flag in fields["flags"].split(":") if flag)
        return Partition(fields["name"], ptype, subtype, offset, size, flags, origin=where)

    def _subtype(self, ptype: int, text: str) -> int:
        if text:
            return resolve_subtype(ptype, text)
        if ptype == APP:
            raise ImageError("an app partition needs a subtype (factory, ota_0..ota_15, test)")
        return UNDEFINED

    def _offset(self, ptype: int, subtype: int, text: str) -> int:
        if text:
            offset = parse_number(text, "offset")
            if offset < 0:
                raise ImageError(f"offset '{text}' is negative")
            return offset
        if subtype == PRIMARY and ptype == PARTITION_TABLE:
            return self.table_offset
        if subtype == PRIMARY and ptype == BOOTLOADER:
            return self._bootloader_offset()
        align = offset_alignment(ptype)
        return -(-self.next_free // align) * align

    def _size(self, ptype: int, text: str) -> int:
        if text:
            return parse_number(text, "size")
        if ptype == PARTITION_TABLE:
            return TABLE_SECTOR_SIZE
        if ptype == BOOTLOADER:
            return self.table_offset - self._bootloader_offset()
        raise ImageError("the size field is empty")

    def _bootloader_offset(self) -> int:
        if self.bootloader_offset is None:
            raise ImageError(
                "a bootloader entry without offset or size needs the bootloader's offset "
                "(--primary-bootloader-offset)"
            )
        return self.bootloader_offset


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
