"""Checks of a set of files against the chip and the partition table, before they are flashed.

`layout_findings` is pure: it looks at the bytes about to be written and returns findings, one
line each. Errors stop a write; `--force` overrides those marked overridable (a file past the end of
the flash or two files sharing a sector can never be written as asked). Warnings never stop it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from espforge.chips import ChipSpec
from espforge.errors import ImageError
from espforge.image.firmware import IMAGE_MAGIC, load_image
from espforge.image.flash_input import FlashInput, sector_overlaps
from espforge.image.partition_table import (
    DEFAULT_TABLE_OFFSET,
    ENTRY_MAGIC,
    PartitionTable,
    check_table,
    parse_binary,
    size_text,
)

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    overridable: bool = True  # --force lets the write go ahead despite this error

    def __str__(self) -> str:
        return f"{self.severity.upper()}: {self.message}"


def _error(message: str, overridable: bool = True) -> Finding:
    return Finding("error", message, overridable)


def _warning(message: str) -> Finding:
    return Finding("warning", message)


def blocking_findings(findings: Sequence[Finding], force: bool) -> list[Finding]:
    """The errors that stop the write: all of them, or with `force` the ones it cannot override."""
    return [
        finding
        for finding in findings
        if finding.severity == "error" and not (force and finding.overridable)
    ]


def layout_findings(
    chip: ChipSpec,
    files: Sequence[FlashInput],
    *,
    partition_table_offset: int = DEFAULT_TABLE_OFFSET,
    partition_table: PartitionTable | None = None,
    flash_size: int | None = None,
) -> list[Finding]:
    """Everything wrong with writing `files` to `chip`'s flash, in address order.

    The table is the one written at `partition_table_offset` when a file goes there, else
    `partition_table` (for instance the one read from the chip), else none: then only the
    bootloader, the images and the flash size are checked.
    """
    ordered = sorted(files, key=lambda file: file.address)
    return [
        *_shared_sectors(ordered),
        *_past_flash_end(ordered, flash_size),
        *firmware_findings(
            chip,
            ordered,
            partition_table_offset=partition_table_offset,
            partition_table=partition_table,
            flash_size=flash_size,
        ),
    ]


def firmware_findings(
    chip: ChipSpec,
    files: Sequence[FlashInput],
    *,
    partition_table_offset: int = DEFAULT_TABLE_OFFSET,
    partition_table: PartitionTable | None = None,
    flash_size: int | None = None,
) -> list[Finding]:
    """What `layout_findings` finds wrong with the bootloader, partition table and images, for
    `files` already known to keep apart and to fit in the flash (as a write checks first)."""
    ordered = sorted(files, key=lambda file: file.address)
    findings: list[Finding] = []
    written = next((file for file in ordered if file.address == partition_table_offset), None)
    table = partition_table
    if written is not None:
        table, table_findings = _written_table(written, partition_table, flash_size)
        findings += table_findings
    elif table is not None and flash_size is not None:
        findings += _table_fits(table, flash_size, "the partition table")
    for file in ordered:
        if file is not written:
            findings += _file_findings(chip, file, table, partition_table_offset)
    return findings


# ----------------------------------------------------------------- flash-wide checks


def _shared_sectors(ordered: Sequence[FlashInput]) -> Iterator[Finding]:
    for earlier, later in sector_overlaps(ordered):
        yield _error(
            f"{later.described} overlaps {earlier.described} ({earlier.span}) or shares a "
            "flash sector with it: writing one would erase the other",
            overridable=False,
        )


def _past_flash_end(ordered: Sequence[FlashInput], flash_size: int | None) -> Iterator[Finding]:
    if flash_size is None:
        return
    for file in ordered:
        if file.end > flash_size:
            yield _error(
                f"{file.described} ({len(file.data)} bytes) ends at {file.end:#x}, beyond the "
                f"{size_text(flash_size)}B flash: change the flash size or the address",
                overridable=False,
            )


def _written_table(
    file: FlashInput, known: PartitionTable | None, flash_size: int | None
) -> tuple[PartitionTable | None, list[Finding]]:
    """The table being written, or the known one when it does not parse."""
    try:
        table = parse_binary(file.data, table_offset=file.address, source=file.described)
    except ImageError as problem:
        return known, [_error(f"{problem} (not a valid partition table)")]
    if flash_size is None:
        return table, []
    return table, list(_table_fits(table, flash_size, file.described))


def _table_fits(table: PartitionTable, flash_size: int, source: str) -> Iterator[Finding]:
    try:
        check_table(table, flash_size=flash_size, source=source)
    except ImageError as problem:
        yield _error(str(problem))


# ---------------------------------------------------------------------- one file


def _file_findings(
    chip: ChipSpec, file: FlashInput, table: PartitionTable | None, table_offset: int
) -> list[Finding]:
    findings = []
    if table is not None and file.address < table.first_free_offset and file.end > table.offset:
        findings.append(
            _error(
                f"{file.described} ({file.span}) runs into the partition table's sector at "
                f"{table.offset:#x}"
            )
        )
    if file.address == chip.bootloader_flash_offset:
        findings += _image_findings(chip, file, "bootloader")
    elif file.address < table_offset:
        findings += _misplaced_bootloader(chip, file)
    elif file.data[:2] == ENTRY_MAGIC:
        findings.append(
            _warning(
                f"{file.described} looks like a partition table, but the table offset is "
                f"{table_offset:#x} (use --partition-table-offset if it moved)"
            )
        )
    elif table is not None and file.address >= table.first_free_offset:
        findings += _partition_findings(chip, file, table)
    elif file.data[:1] == bytes([IMAGE_MAGIC]):
        findings += _image_findings(chip, file, "app image")
    return findings


def _image_findings(chip: ChipSpec, file: FlashInput, role: str) -> list[Finding]:
    problem = _image_problem(chip, file)
    if problem is None:
        return []
    return [_error(f"{file.described} is not a valid {chip.chip_name} {role}: {problem}")]


def _image_problem(chip: ChipSpec, file: FlashInput) -> str | None:
    """Why the file is not an image this chip's loader accepts, or None if it is."""
    source = file.source or "image"
    try:
        image = load_image(file.data, chip, source=source)
    except ImageError as problem:
        return str(problem).removeprefix(f"{source}: ")  # the finding names the file already
    if not image.checksum_valid:
        return (
            f"checksum {image.stored_checksum:#04x} should be {image.computed_checksum:#04x} "
            "(corrupt image)"
        )
    if image.sha256_valid is False:
        return "the appended SHA-256 does not match the image (corrupt image)"
    return None


def _misplaced_bootloader(chip: ChipSpec, file: FlashInput) -> list[Finding]:
    if file.data[:1] != bytes([IMAGE_MAGIC]) or _image_problem(chip, file) is not None:
        return []
    return [
        _error(
            f"{file.described} is an image for {chip.chip_name} below the partition table, but "
            f"{chip.chip_name}'s bootloader goes at {chip.bootloader_flash_offset:#x}"
        )
    ]


def _partition_findings(chip: ChipSpec, file: FlashInput, table: PartitionTable) -> list[Finding]:
    touched = sorted(
        (partition for partition in table if partition.overlaps(file.address, file.end)),
        key=lambda partition: partition.offset,
    )
    if not touched:
        return [_warning(f"{file.described} ({file.span}) is outside every partition")]
    if len(touched) > 1:
        names = " and ".join(f"'{partition.name}'" for partition in touched)
        return [_error(f"{file.described} ({file.span}) straddles partitions {names}")]
    partition = touched[0]
    where = f"partition '{partition.name}' ({partition.offset:#x}-{partition.end - 1:#x})"
    if file.address < partition.offset or file.end > partition.end:
        return [_error(f"{file.described} ({file.span}) does not fit inside {where}")]
    if partition.is_app:
        if file.address != partition.offset:
            return [_error(f"{file.described} must start at the beginning of app {where}")]
        return _image_findings(chip, file, f"app image for {where}")
    if file.data[:1] == bytes([IMAGE_MAGIC]) and _image_problem(chip, file) is None:
        kind = f"{partition.type_label}/{partition.subtype_label}"
        return [_warning(f"{file.described} is an app image, written into {kind} {where}")]
    return []
