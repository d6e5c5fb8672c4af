"""Handlers of partition-table (on files) and check-layout: offline checks of a flash layout.

`partition-table` with no INPUT lists the table a chip holds: that is
`partition_handlers.run_partition_table_from_chip`, loaded only then (see `lazy`).
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.chips import ChipSpec, get_chip
from espforge.cli import lazy
from espforge.cli.framework import CommandOptions, Invocation, command
from espforge.cli.partition_listing import table_listing
from espforge.errors import EspforgeError, ImageError
from espforge.fileio import read_input, write_output
from espforge.image.firmware import IMAGE_MAGIC, detect_image_chip
from espforge.image.flash_input import FlashInput
from espforge.image.layout_check import blocking_findings, layout_findings
from espforge.image.partition_table import (
    PartitionTable,
    is_binary_table,
    parse_binary,
    parse_csv,
)

# ------------------------------------------------------------------ partition-table


@dataclass(frozen=True)
class PartitionTableOptions(CommandOptions):
    input: str | None
    output: str | None
    offset: int
    flash_size: int | None
    secure: bool
    disable_md5sum: bool
    primary_bootloader_offset: int | None


@command(PartitionTableOptions)
def run_partition_table(invocation: Invocation, options: PartitionTableOptions) -> None:
    source = options.input
    if source is None:
        lazy.handler("partition_handlers:run_partition_table_from_chip")(invocation)
        return
    data = read_input(source)
    from_binary = is_binary_table(data)
    table = _parse_table(invocation, options, source, data, from_binary)
    output = options.output
    if output is None:
        invocation.echo(table_listing(table, source, options.flash_size))
        return
    if from_binary:
        write_output(output, table.to_csv().encode())
        invocation.echo(f"Wrote the CSV form of {source} ({len(table)} partitions) to {output}")
    else:
        write_output(output, table.to_binary(md5=not options.disable_md5sum))
        invocation.echo(f"Wrote the binary form of {source} ({len(table)} partitions) to {output}")


def _parse_table(
    invocation: Invocation,
    options: PartitionTableOptions,
    source: str,
    data: bytes,
    from_binary: bool,
) -> PartitionTable:
    rules = {
        "table_offset": options.offset,
        "secure": options.secure,
        "flash_size": options.flash_size,
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
    bootloader_offset = options.primary_bootloader_offset
    if bootloader_offset is None and invocation.settings.chip != "auto":
        bootloader_offset = get_chip(invocation.settings.chip).bootloader_flash_offset
    return parse_csv(text, bootloader_offset=bootloader_offset, **rules)


# --------------------------------------------------------------------- check-layout


@dataclass(frozen=True)
class CheckLayoutOptions(CommandOptions):
    addr_filename: list[tuple[int, str]]
    flash_size: int | None
    partition_table_offset: int
    force: bool


@command(CheckLayoutOptions)
def run_check_layout(invocation: Invocation, options: CheckLayoutOptions) -> None:
    files = [FlashInput(address, read_input(path), path) for address, path in options.addr_filename]
    chip = _layout_chip(invocation, files)
    findings = layout_findings(
        chip,
        files,
        partition_table_offset=options.partition_table_offset,
        flash_size=options.flash_size,
    )
    for finding in findings:
        invocation.echo(str(finding))
    blocking = blocking_findings(findings, options.force)
    if blocking:
        hint = "" if options.force else " (--force overrides some of them)"
        raise EspforgeError(
            f"the layout check found {len(blocking)} error(s) that stop flashing{hint}"
        )
    overridden = sum(1 for finding in findings if finding.severity == "error")
    note = f", {overridden} error(s) overridden by --force" if overridden else ""
    invocation.echo(f"Layout check passed for {chip.chip_name}: {len(files)} file(s){note}.")


def _layout_chip(invocation: Invocation, files: list[FlashInput]) -> ChipSpec:
    """The --chip given, or the chip the first firmware image among the files is built for."""
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
