"""The partition-table and check-layout commands: their options (read when the CLI is built)
and their handlers, which import the image library only when they run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from espforge.cli.options import AnyInt, Arg, ByteSize, address_file_pairs, flag, option
from espforge.errors import EspforgeError

if TYPE_CHECKING:
    from espforge.chips import ChipSpec
    from espforge.cli.commands import Invocation
    from espforge.image.flash_input import FlashInput
    from espforge.image.partition_table import PartitionTable

_FLASH_SIZE = option(
    "--flash-size",
    help="Flash size to check against (e.g. 4MB, 0x400000).",
    type=ByteSize(),
)

PARTITION_TABLE_HELP = (
    "Convert an ESP-IDF partition table between CSV and binary (the input's kind is detected), "
    "or print it with its free space when no OUTPUT is given. With no INPUT and a --port, "
    "print the table the chip holds at --offset."
)

PARTITION_TABLE_PARAMS = (
    Arg("input", click.Path(dir_okay=False), required=False),
    Arg("output", click.Path(dir_okay=False), required=False),
    option(
        "--offset",
        help="Flash offset of the partition table.",
        type=AnyInt(),
        default="0x8000",
        legacy_names=("--partition-table-offset",),  # parttool's name, for the chip's table
    ),
    _FLASH_SIZE,
    flag("--secure", help="Require app partition sizes fit for secure boot (multiples of 64K)."),
    flag("--disable-md5sum", help="Leave the MD5 row out of the binary table."),
    option(
        "--primary-bootloader-offset",
        help="Where a bootloader entry with no offset goes (default: --chip's bootloader offset).",
        type=AnyInt(),
    ),
)

CHECK_LAYOUT_HELP = (
    "Check files about to be flashed: the bootloader, the partition table, each app image "
    "inside its partition, and the flash size. Exits non-zero on errors."
)

CHECK_LAYOUT_PARAMS = (
    Arg("addr_filename", nargs=-1, convert=address_file_pairs),
    _FLASH_SIZE,
    option(
        "--partition-table-offset",
        help="Flash offset of the partition table.",
        type=AnyInt(),
        default="0x8000",
    ),
    flag("--force", help="Let the errors that may be overridden pass."),
)


# ------------------------------------------------------------------ partition-table


def run_partition_table(invocation: Invocation) -> None:
    from espforge.fileio import read_input, write_output
    from espforge.image.partition_table import is_binary_table

    values = invocation.arguments
    source = values["input"]
    if source is None:
        from espforge.cli.partition_device_commands import run_partition_table_from_chip

        run_partition_table_from_chip(invocation)
        return
    data = read_input(source)
    from_binary = is_binary_table(data)
    table = _parse_table(data, from_binary, invocation)
    output = values["output"]
    if output is None:
        invocation.echo(_table_listing(table, source, values["flash_size"]))
        return
    if from_binary:
        write_output(output, table.to_csv().encode())
        invocation.echo(f"Wrote the CSV form of {source} ({len(table)} partitions) to {output}")
    else:
        write_output(output, table.to_binary(md5=not values["disable_md5sum"]))
        invocation.echo(f"Wrote the binary form of {source} ({len(table)} partitions) to {output}")


def _parse_table(data: bytes, from_binary: bool, invocation: Invocation) -> PartitionTable:
    from espforge.chips import get_chip
    from espforge.image.partition_table import parse_binary, parse_csv

    values = invocation.arguments
    source = values["input"]
    rules = {
        "table_offset": values["offset"],
        "secure": values["secure"],
        "flash_size": values["flash_size"],
        "source": source,
    }
    if from_binary:
        return parse_binary(data, **rules)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise EspforgeError(
            f"{source}: is neither a binary partition table nor CSV text: give a table file"
        ) from None
    bootloader_offset = values["primary_bootloader_offset"]
    if bootloader_offset is None and invocation.settings.chip != "auto":
        bootloader_offset = get_chip(invocation.settings.chip).bootloader_flash_offset
    return parse_csv(text, bootloader_offset=bootloader_offset, **rules)


def _table_listing(table: PartitionTable, source: str, flash_size: int | None) -> str:
    from espforge.image.partition_table import size_text

    header = ("Name", "Type", "SubType", "Offset", "Size", "Flags")
    rows = [
        (
            partition.name,
            partition.type_label,
            partition.subtype_label,
            f"{partition.offset:#x}",
            f"{partition.size:#x} ({size_text(partition.size)})",
            ":".join(partition.flags),
        )
        for partition in table
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    lines = [f"Partition table at {table.offset:#x} from {source}: {len(table)} partitions"]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    gaps = table.free_gaps(flash_size)
    lines.append("Free space:" if gaps else "Free space: none between the partitions")
    lines += [f"  {start:#x}-{end - 1:#x} ({size_text(end - start)})" for start, end in gaps]
    if flash_size is None:
        lines.append(f"  (and from {table.end:#x} to the end of the flash: give --flash-size)")
    return "\n".join(lines)


# --------------------------------------------------------------------- check-layout


def run_check_layout(invocation: Invocation) -> None:
    from espforge.fileio import read_input
    from espforge.image.flash_input import FlashInput
    from espforge.image.layout_check import blocking_findings, layout_findings

    values = invocation.arguments
    files = [
        FlashInput(address, read_input(path), path) for address, path in values["addr_filename"]
    ]
    chip = _layout_chip(invocation, files)
    findings = layout_findings(
        chip,
        files,
        partition_table_offset=values["partition_table_offset"],
        flash_size=values["flash_size"],
    )
    for finding in findings:
        invocation.echo(str(finding))
    blocking = blocking_findings(findings, values["force"])
    if blocking:
        hint = "" if values["force"] else " (--force overrides some of them)"
        raise EspforgeError(
            f"the layout check found {len(blocking)} error(s) that stop flashing{hint}"
        )
    overridden = sum(1 for finding in findings if finding.severity == "error")
    note = f", {overridden} error(s) overridden by --force" if overridden else ""
    invocation.echo(f"Layout check passed for {chip.chip_name}: {len(files)} file(s){note}.")


def _layout_chip(invocation: Invocation, files: list[FlashInput]) -> ChipSpec:
    """The --chip given, or the chip the first firmware image among the files is built for."""
    from espforge.chips import get_chip
    from espforge.errors import ImageError
    from espforge.image.firmware import IMAGE_MAGIC, detect_image_chip

    if invocation.settings.chip != "auto":
        return get_chip(invocation.settings.chip)
    for file in files:
        if file.data[:1] == bytes([IMAGE_MAGIC]):
            try:
                chip = detect_image_chip(file.data, file.source)
            except ImageError:
                continue
            invocation.echo(f"Checking for {chip.chip_name}, the chip {file.source} is built for.")
            return chip
    raise EspforgeError("none of the files tells which chip they are for: give --chip")
