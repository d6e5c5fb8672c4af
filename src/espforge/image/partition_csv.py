"""Reading ESP-IDF's CSV form: `$VAR` expansion, the six fields of a line, and placing
partitions whose offset or size is left for the generator to fill."""

from __future__ import annotations

import re
from collections.abc import Mapping

from espforge.errors import ImageError
from espforge.image.partition import (
    APP,
    BOOTLOADER,
    PARTITION_TABLE,
    PRIMARY,
    UNDEFINED,
    Partition,
    is_primary_boot_entry,
    offset_alignment,
    parse_number,
    resolve_subtype,
    resolve_type,
)
from espforge.image.partition_binary import TABLE_SECTOR_SIZE

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
_CSV_FIELDS = ("name", "type", "subtype", "offset", "size", "flags")


def expand_variables(line: str, variables: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ImageError(f"unknown variable ${name}: set it in the environment")
        return variables[name]

    return _VARIABLE.sub(value, line)


def csv_fields(line: str) -> dict[str, str]:
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


class Placer:
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
        if not is_primary_boot_entry(ptype, subtype):  # they take no part in the placing
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
