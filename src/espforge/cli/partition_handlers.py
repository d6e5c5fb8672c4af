"""Handlers of `espforge partition ...` (parttool.py's commands), `espforge ota ...`
(otatool.py's) and of `partition-table` reading the table a chip holds.

They run connected, with the flash size detected, through `device.device_command`.
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.cli.device import device_command
from espforge.cli.framework import CommandOptions, Invocation, output
from espforge.cli.partition_listing import table_listing
from espforge.errors import EspforgeError
from espforge.fileio import read_input, write_output
from espforge.flash import Device
from espforge.flash.partitions import (
    OtaStatus,
    PartitionChoice,
    erase_otadata,
    erase_partition,
    load_table_file,
    ota_slot,
    read_ota_status,
    read_partition,
    read_partition_table,
    switch_ota_partition,
    write_partition,
)
from espforge.image.flash_params import flash_size_bytes
from espforge.image.partition_table import Partition, PartitionTable, resolve_subtype, resolve_type

DEFAULT_INFO = ("offset", "size")


def _result(text: str) -> None:
    """A command's result: printed even with --silent, for scripts."""
    output(text)


def _describe(partition: Partition) -> str:
    return f"'{partition.name}' ({partition.offset:#x}, {partition.size:#x} bytes)"


@dataclass(frozen=True)
class TableOptions(CommandOptions):
    """Where the partition table comes from: the chip, or a file."""

    partition_table_offset: int
    partition_table_file: str | None

    def table(self, device: Device) -> PartitionTable:
        offset = self.partition_table_offset
        if self.partition_table_file is not None:
            return load_table_file(
                self.partition_table_file, offset, device.chip.bootloader_flash_offset
            )
        return read_partition_table(device, offset)


# ---------------------------------------------------------------------- partition


@dataclass(frozen=True)
class PartitionOptions(TableOptions):
    """Which partition: by name, type (and subtype), or the app booted by default."""

    partition_name: str | None
    partition_type: str | None
    partition_subtype: str | None
    partition_boot_default: bool

    def chosen(self, table: PartitionTable) -> Partition:
        if self.partition_subtype is not None and self.partition_type is None:
            raise EspforgeError("--partition-subtype needs --partition-type")
        choice = PartitionChoice(
            self.partition_name,
            self.partition_type,
            self.partition_subtype,
            self.partition_boot_default,
        )
        return choice.find(table)

    def matches(self, partition: Partition) -> bool:
        """Whether `partition` has the type (and subtype, if given) asked for."""
        wanted = resolve_type(self.partition_type)
        subtype = self.partition_subtype
        return partition.type == wanted and (
            subtype is None or partition.subtype == resolve_subtype(wanted, subtype)
        )


@dataclass(frozen=True)
class PartitionInfoOptions(PartitionOptions):
    info: tuple[str, ...]
    part_list: bool


@device_command(PartitionInfoOptions, detect_flash_size=True)
def run_get_partition_info(
    invocation: Invocation, device: Device, options: PartitionInfoOptions
) -> None:
    table = options.table(device)
    fields = options.info or DEFAULT_INFO
    if options.part_list:
        if options.partition_type is None:
            raise EspforgeError("--part-list needs --partition-type")
        partitions = [partition for partition in table if options.matches(partition)]
    else:
        partitions = [options.chosen(table)]
    if not partitions:
        raise EspforgeError("no partition of that type and subtype in the table")
    # One line, as parttool.py prints it (a --part-list too).
    _result(" ".join(_info(partition, field) for partition in partitions for field in fields))


def _info(partition: Partition, field: str) -> str:
    """One value as parttool.py prints it: type and subtype as decimal numbers."""
    shown = {
        "name": partition.name,
        "type": str(partition.type),
        "subtype": str(partition.subtype),
        "offset": f"{partition.offset:#x}",
        "size": f"{partition.size:#x}",
        "encrypted": str(partition.encrypted),
        "readonly": str(partition.readonly),
    }
    return shown[field]


@dataclass(frozen=True)
class ReadPartitionOptions(PartitionOptions):
    output: str


@device_command(ReadPartitionOptions, detect_flash_size=True)
def run_read_partition(
    invocation: Invocation, device: Device, options: ReadPartitionOptions
) -> None:
    partition = options.chosen(options.table(device))
    write_output(options.output, read_partition(device, partition))
    invocation.echo(f"Read partition {_describe(partition)} into {options.output}.")


@dataclass(frozen=True)
class WritePartitionOptions(PartitionOptions):
    input: str
    force: bool


@device_command(WritePartitionOptions, detect_flash_size=True)
def run_write_partition(
    invocation: Invocation, device: Device, options: WritePartitionOptions
) -> None:
    table = options.table(device)
    _write_into(invocation, device, table, options.chosen(table), options.input, options.force)


def _write_into(
    invocation: Invocation,
    device: Device,
    table: PartitionTable,
    partition: Partition,
    path: str,
    force: bool,
) -> None:
    data = read_input(path)
    write_partition(device, table, partition, data, path, force)
    invocation.echo(f"Wrote {path} ({len(data)} bytes) into partition {_describe(partition)}.")


@device_command(PartitionOptions, detect_flash_size=True)
def run_erase_partition(invocation: Invocation, device: Device, options: PartitionOptions) -> None:
    partition = options.chosen(options.table(device))
    erase_partition(device, partition)
    invocation.echo(f"Erased partition {_describe(partition)}.")


# -------------------------------------------------------------------------- OTA


@device_command(TableOptions, detect_flash_size=True)
def run_read_otadata(invocation: Invocation, device: Device, options: TableOptions) -> None:
    table = options.table(device)
    _result(ota_status_text(table, read_ota_status(device, table)))


def ota_status_text(table: PartitionTable, status: OtaStatus) -> str:
    """read-otadata's report: both records, and the app started next and why."""
    slots = table.ota_slots()
    names = ", ".join(slot.name for slot in slots) or "none"
    partition = status.partition
    lines = [
        f"OTA data in partition '{partition.name}' at {partition.offset:#x} "
        f"({len(slots)} OTA slot(s): {names}):"
    ]
    for index, record in enumerate(status.records):
        if record.empty:
            lines.append(f"  otadata[{index}]: empty")
            continue
        crc = "valid" if record.crc_valid else "INVALID"
        target = ""
        if record.valid and slots:
            slot = record.slot(len(slots))
            target = f", selects slot {slot} ({slots[slot].name})"
        lines.append(
            f"  otadata[{index}]: sequence {record.sequence}, state {record.state_name}, "
            f"CRC {record.crc:#010x} {crc}{target}"
        )
    selection = status.selection
    chosen = selection.partition.name if selection.partition else "nothing"
    lines.append(f"Boots next: {chosen} ({selection.reason})")
    return "\n".join(lines)


@dataclass(frozen=True)
class SlotOptions(TableOptions):
    """Which OTA slot: by number or by its partition's name."""

    slot: int | None
    name: str | None

    def slot_number(self, table: PartitionTable) -> int:
        return ota_slot(table, self.slot, self.name)

    def partition(self, table: PartitionTable) -> Partition:
        return table.ota_slots()[self.slot_number(table)]


@dataclass(frozen=True)
class SwitchOtaOptions(SlotOptions):
    rollback: bool


@device_command(SwitchOtaOptions, detect_flash_size=True)
def run_switch_ota_partition(
    invocation: Invocation, device: Device, options: SwitchOtaOptions
) -> None:
    table = options.table(device)
    slot = options.slot_number(table)
    sector, record = switch_ota_partition(device, table, slot, options.rollback)
    invocation.echo(
        f"Switched to OTA slot {slot} ({table.ota_slots()[slot].name}): wrote sequence "
        f"{record.sequence}, state {record.state_name}, CRC {record.crc:#010x} into "
        f"otadata[{sector}]."
    )


@device_command(TableOptions, detect_flash_size=True)
def run_erase_otadata(invocation: Invocation, device: Device, options: TableOptions) -> None:
    table = options.table(device)
    partition = erase_otadata(device, table)
    fallback = table.boot_default()
    to = f"; the bootloader now starts {fallback.name}" if fallback else ""
    invocation.echo(f"Erased the OTA data in partition {_describe(partition)}{to}.")


@dataclass(frozen=True)
class ReadOtaOptions(SlotOptions):
    output: str


@device_command(ReadOtaOptions, detect_flash_size=True)
def run_read_ota_partition(invocation: Invocation, device: Device, options: ReadOtaOptions) -> None:
    partition = options.partition(options.table(device))
    write_output(options.output, read_partition(device, partition))
    invocation.echo(f"Read OTA partition {_describe(partition)} into {options.output}.")


@dataclass(frozen=True)
class WriteOtaOptions(SlotOptions):
    input: str
    force: bool


@device_command(WriteOtaOptions, detect_flash_size=True)
def run_write_ota_partition(
    invocation: Invocation, device: Device, options: WriteOtaOptions
) -> None:
    table = options.table(device)
    _write_into(invocation, device, table, options.partition(table), options.input, options.force)


# ------------------------------------------------------------ partition-table from a chip


@dataclass(frozen=True)
class ChipTableOptions(CommandOptions):
    offset: int
    flash_size: int | None


def run_partition_table_from_chip(invocation: Invocation) -> None:
    """`partition-table` with no INPUT: list the table the chip holds."""
    if invocation.settings.port is None:
        raise EspforgeError(
            "give the partition table's CSV or binary file as INPUT, or --port to read it "
            "from a chip"
        )
    _list_chip_table(invocation)


@device_command(ChipTableOptions, detect_flash_size=True)
def _list_chip_table(invocation: Invocation, device: Device, options: ChipTableOptions) -> None:
    table = read_partition_table(device, options.offset)
    flash_size = options.flash_size
    detected = device.detected_flash_size()
    if flash_size is None and detected is not None:
        flash_size = flash_size_bytes(detected)
    _result(table_listing(table, f"the chip on {device.port_name}", flash_size))
