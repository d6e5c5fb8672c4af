"""Partitions, OTA data and whole-flash work on a connected chip, as data and handlers.

`espforge partition ...` has the commands of ESP-IDF's parttool.py and `espforge ota ...` those
of otatool.py (hyphenated; underscore spellings work too); `scan`, `backup` and `restore` are
top-level commands. The handlers import the flash layer only when they run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from espforge.cli.commands import FLASH, CommandSpec, Invocation
from espforge.cli.options import AnyInt, Arg, flag, option
from espforge.errors import EspforgeError

if TYPE_CHECKING:
    from espforge.flash import Device
    from espforge.flash.partitions import OtaStatus
    from espforge.image.partition_table import Partition, PartitionTable

_HANDLERS = "espforge.cli.partition_device_commands"
INFO_FIELDS = ("name", "type", "subtype", "offset", "size", "encrypted", "readonly")
DEFAULT_INFO = ("offset", "size")

_TABLE_OFFSET = option(
    "--partition-table-offset",
    help="Flash offset of the partition table on the chip.",
    type=AnyInt(),
    default="0x8000",
)
_TABLE_FILE = option(
    "--partition-table-file",
    help="Take the partition table from this CSV or binary file instead of the chip.",
    type=click.Path(exists=True, dir_okay=False),
)
_SELECTION = (
    option("--partition-name", help="The partition's name.", type=click.STRING),
    option("--partition-type", help="The partition's type (name or number).", type=click.STRING),
    option(
        "--partition-subtype",
        help="The partition's subtype (name or number), with --partition-type.",
        type=click.STRING,
    ),
    flag("--partition-boot-default", help="The app the bootloader starts by default."),
)
_SELECTION_EXCLUSIVE = (
    ("partition_name", "partition_type", "partition_boot_default"),
    ("partition_name", "partition_subtype", "partition_boot_default"),
)
_FORCE_WRITE = flag(
    "--force", help="Write even into a readonly partition, or a non-image into an app partition."
)
_SLOT = (
    option(
        "--slot",
        help="OTA slot number: slot N is the N-th ota_* app partition, from 0.",
        type=click.INT,
    ),
    option("--name", help="Name of the OTA app partition.", type=click.STRING),
)


def _output() -> Any:
    return option(
        "--output",
        help="File to read the partition into.",
        type=click.Path(dir_okay=False),
        required=True,
    )


def _input() -> Any:
    return option(
        "--input",
        help="File to write into the partition.",
        type=click.Path(exists=True, dir_okay=False),
        required=True,
    )


def _spec(name: str, help_text: str, *params: Any, **details: Any) -> CommandSpec:
    handler = f"{_HANDLERS}:run_{name.replace('-', '_')}"
    return CommandSpec(name, FLASH, help_text, params=params, handler=handler, **details)


PARTITION_COMMANDS = (
    _spec(
        "get-partition-info",
        "Print a partition's name, type, subtype, offset, size or flags (parttool.py).",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        option(
            "--info",
            help="What to print (default: offset size).",
            type=click.Choice(INFO_FIELDS),
            multiple=True,
            eat_all=True,
        ),
        flag("--part-list", help="Print every partition of the type (and subtype) given."),
        exclusive=_SELECTION_EXCLUSIVE,
    ),
    _spec(
        "read-partition",
        "Read a partition's contents into a file.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        _output(),
        exclusive=_SELECTION_EXCLUSIVE,
    ),
    _spec(
        "write-partition",
        "Write a file into a partition (the rest of the partition is erased).",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        _input(),
        _FORCE_WRITE,
        exclusive=_SELECTION_EXCLUSIVE,
    ),
    _spec(
        "erase-partition",
        "Erase a partition.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SELECTION,
        exclusive=_SELECTION_EXCLUSIVE,
    ),
)

OTA_COMMANDS = (
    _spec(
        "read-otadata",
        "Print both OTA data records and which app the bootloader starts next (otatool.py).",
        _TABLE_OFFSET,
        _TABLE_FILE,
    ),
    _spec(
        "switch-ota-partition",
        "Make the bootloader start another OTA slot next.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SLOT,
        flag(
            "--rollback",
            help="Write state NEW, as an app built with rollback does: a bootloader with "
            "rollback then gives the app one boot to confirm itself.",
        ),
        exclusive=(("slot", "name"),),
    ),
    _spec(
        "erase-otadata",
        "Erase the OTA data: the bootloader falls back to factory (or ota_0).",
        _TABLE_OFFSET,
        _TABLE_FILE,
    ),
    _spec(
        "read-ota-partition",
        "Read an OTA app partition into a file.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SLOT,
        _output(),
        exclusive=(("slot", "name"),),
    ),
    _spec(
        "write-ota-partition",
        "Write an app image into an OTA app partition.",
        _TABLE_OFFSET,
        _TABLE_FILE,
        *_SLOT,
        _input(),
        _FORCE_WRITE,
        exclusive=(("slot", "name"),),
    ),
)

BOARD_COMMANDS = (
    _spec(
        "scan",
        "Show what is on the board: chip, flash, security, bootloader, partitions, apps, OTA.",
        _TABLE_OFFSET,
        flag("--json", help="Print it as one JSON object."),
    ),
    _spec(
        "backup",
        "Read the whole flash (or some partitions) into a zip archive with a manifest.",
        Arg("filename", click.Path(dir_okay=False)),
        option(
            "--partitions",
            help="Back up only these partitions (comma-separated names).",
            type=click.STRING,
        ),
        _TABLE_OFFSET,
    ),
    _spec(
        "restore",
        "Write a backup back, only where flash differs, and verify it.",
        Arg("filename", click.Path(exists=True, dir_okay=False)),
        flag("--force", help="Restore a backup from another chip type or a larger flash."),
    ),
)


# ------------------------------------------------------------------------- helpers


Body = Callable[..., None]


def _on_chip(invocation: Invocation, body: Body) -> None:
    """Run `body(invocation, device)` connected, as every device command runs."""
    from espforge.cli.device_commands import device_command

    def with_flash_size(invocation: Invocation, device: Device) -> None:
        device.configure_flash_size("detect")  # the ROM assumes 2MB until told
        body(invocation, device)

    device_command()(with_flash_size)(invocation)


def _result(text: str) -> None:
    """A command's result: printed even with --silent, for scripts."""
    click.echo(text)


def _table(invocation: Invocation, device: Device) -> PartitionTable:
    from espforge.flash.partitions import load_table_file, read_partition_table

    values = invocation.arguments
    offset = values["partition_table_offset"]
    path = values.get("partition_table_file")
    if path is not None:
        return load_table_file(path, offset, device.chip.bootloader_flash_offset)
    return read_partition_table(device, offset)


def _chosen(invocation: Invocation, table: PartitionTable) -> Partition:
    from espforge.flash.partitions import PartitionChoice

    values = invocation.arguments
    if values["partition_subtype"] is not None and values["partition_type"] is None:
        raise EspforgeError("--partition-subtype needs --partition-type")
    choice = PartitionChoice(
        values["partition_name"],
        values["partition_type"],
        values["partition_subtype"],
        values["partition_boot_default"],
    )
    return choice.find(table)


def _ota_partition(invocation: Invocation, table: PartitionTable) -> Partition:
    from espforge.flash.partitions import ota_slot

    values = invocation.arguments
    return table.ota_slots()[ota_slot(table, values["slot"], values["name"])]


def _describe(partition: Partition) -> str:
    return f"'{partition.name}' ({partition.offset:#x}, {partition.size:#x} bytes)"


# ---------------------------------------------------------------------- partition


def run_get_partition_info(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        values = invocation.arguments
        table = _table(invocation, device)
        fields = values["info"] or DEFAULT_INFO
        if values["part_list"]:
            if values["partition_type"] is None:
                raise EspforgeError("--part-list needs --partition-type")
            partitions = [p for p in table if _matches(p, values)]
        else:
            partitions = [_chosen(invocation, table)]
        if not partitions:
            raise EspforgeError("no partition of that type and subtype in the table")
        # One line, as parttool.py prints it (a --part-list too).
        _result(" ".join(_info(partition, field) for partition in partitions for field in fields))

    _on_chip(invocation, body)


def _matches(partition: Partition, values: Any) -> bool:
    from espforge.image.partition_table import resolve_subtype, resolve_type

    wanted = resolve_type(values["partition_type"])
    subtype = values["partition_subtype"]
    return partition.type == wanted and (
        subtype is None or partition.subtype == resolve_subtype(wanted, subtype)
    )


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


def run_read_partition(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.fileio import write_output
        from espforge.flash.partitions import read_partition

        partition = _chosen(invocation, _table(invocation, device))
        output = invocation.arguments["output"]
        write_output(output, read_partition(device, partition))
        invocation.echo(f"Read partition {_describe(partition)} into {output}.")

    _on_chip(invocation, body)


def run_write_partition(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        table = _table(invocation, device)
        _write_into(invocation, device, table, _chosen(invocation, table))

    _on_chip(invocation, body)


def _write_into(
    invocation: Invocation, device: Device, table: PartitionTable, partition: Partition
) -> None:
    from espforge.fileio import read_input
    from espforge.flash.partitions import write_partition

    values = invocation.arguments
    data = read_input(values["input"])
    write_partition(device, table, partition, data, values["input"], values["force"])
    invocation.echo(
        f"Wrote {values['input']} ({len(data)} bytes) into partition {_describe(partition)}."
    )


def run_erase_partition(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.flash.partitions import erase_partition

        partition = _chosen(invocation, _table(invocation, device))
        erase_partition(device, partition)
        invocation.echo(f"Erased partition {_describe(partition)}.")

    _on_chip(invocation, body)


# -------------------------------------------------------------------------- OTA


def run_read_otadata(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.flash.partitions import read_ota_status

        table = _table(invocation, device)
        _result(ota_status_text(table, read_ota_status(device, table)))

    _on_chip(invocation, body)


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


def run_switch_ota_partition(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.flash.partitions import ota_slot, switch_ota_partition

        values = invocation.arguments
        table = _table(invocation, device)
        slot = ota_slot(table, values["slot"], values["name"])
        sector, record = switch_ota_partition(device, table, slot, values["rollback"])
        invocation.echo(
            f"Switched to OTA slot {slot} ({table.ota_slots()[slot].name}): wrote sequence "
            f"{record.sequence}, state {record.state_name}, CRC {record.crc:#010x} into "
            f"otadata[{sector}]."
        )

    _on_chip(invocation, body)


def run_erase_otadata(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.flash.partitions import erase_otadata

        table = _table(invocation, device)
        partition = erase_otadata(device, table)
        fallback = table.boot_default()
        to = f"; the bootloader now starts {fallback.name}" if fallback else ""
        invocation.echo(f"Erased the OTA data in partition {_describe(partition)}{to}.")

    _on_chip(invocation, body)


def run_read_ota_partition(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.fileio import write_output
        from espforge.flash.partitions import read_partition

        partition = _ota_partition(invocation, _table(invocation, device))
        output = invocation.arguments["output"]
        write_output(output, read_partition(device, partition))
        invocation.echo(f"Read OTA partition {_describe(partition)} into {output}.")

    _on_chip(invocation, body)


def run_write_ota_partition(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        table = _table(invocation, device)
        _write_into(invocation, device, table, _ota_partition(invocation, table))

    _on_chip(invocation, body)


# ------------------------------------------------------------ partition-table from a chip


def run_partition_table_from_chip(invocation: Invocation) -> None:
    """`partition-table` with no INPUT: list the table the chip holds."""
    if invocation.settings.port is None:
        raise EspforgeError(
            "give the partition table's CSV or binary file as INPUT, or --port to read it "
            "from a chip"
        )

    def body(invocation: Invocation, device: Device) -> None:
        from espforge.cli.partition_commands import _table_listing
        from espforge.flash.partitions import read_partition_table
        from espforge.image.flash_params import flash_size_bytes

        offset = invocation.arguments["offset"]
        table = read_partition_table(device, offset)
        flash_size = invocation.arguments["flash_size"]
        detected = device.detected_flash_size()
        if flash_size is None and detected is not None:
            flash_size = flash_size_bytes(detected)
        _result(_table_listing(table, f"the chip on {device.port_name}", flash_size))

    _on_chip(invocation, body)


# ---------------------------------------------------------------- scan, backup, restore


def run_scan(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.flash.scan import scan_device

        report = scan_device(device, invocation.arguments["partition_table_offset"])
        if invocation.arguments["json"]:
            _result(json.dumps(report, indent=2))
        else:
            _result(scan_text(report))

    _on_chip(invocation, body)


def scan_text(report: dict[str, Any]) -> str:
    """The scan report for people."""
    flash_id = report["flash_id"]
    lines = [
        f"Chip:            {report['chip']}"
        + (f" ({report['revision']})" if report["revision"] else ""),
        f"MAC:             {report['mac']}",
        f"Flash:           {report['flash_size'] or 'unknown size'} (manufacturer "
        f"{flash_id['manufacturer']:02x}, device {flash_id['device']:04x})",
        f"Security:        {_security_text(report['security'])}",
        f"Bootloader:      {_bootloader_text(report.get('bootloader'))}",
    ]
    table = report["partition_table"]
    if table is not None and table["entries"] is not None:
        lines.append(f"Partition table at {table['offset']:#x}:")
        for entry in report["partitions"]:
            flags = f" [{','.join(entry['flags'])}]" if entry["flags"] else ""
            lines.append(
                f"  {entry['name']:<16} {entry['type']:<5} {entry['subtype']:<9} "
                f"{entry['offset']:#010x} {entry['size']:#010x}{flags}{_app_text(entry['app'])}"
            )
    otadata = report["otadata"]
    if otadata is not None:
        for index, record in enumerate(otadata["records"]):
            lines.append(f"OTA data[{index}]:     {_record_text(record)}")
    lines.append(f"Boots:           {report['boot_partition'] or 'nothing'}")
    lines += [f"Note: {problem}" for problem in report["problems"]]
    return "\n".join(lines)


def _security_text(security: dict[str, Any] | None) -> str:
    if security is None:
        return "unknown (the ROM does not report it)"
    boot = "on" if security["secure_boot"] else "off"
    encryption = "on" if security["flash_encryption"] else "off"
    return f"secure boot {boot}, flash encryption {encryption}"


def _bootloader_text(bootloader: dict[str, Any] | None) -> str:
    if bootloader is None:
        return "none found"
    state = "valid" if bootloader["valid"] else f"INVALID ({bootloader['problem']})"
    version = ""
    if bootloader["version"] is not None:
        version = (
            f", version {bootloader['version']}, IDF {bootloader['idf_version']}, "
            f"built {bootloader['date_time']}"
        )
    return f"at {bootloader['offset']:#x}, {bootloader['size']} bytes, {state}{version}"


def _app_text(app: dict[str, Any] | None) -> str:
    if app is None:
        return ""
    if not app["valid"]:
        return f"  no valid app: {app['problem']}"
    if app["project_name"] is None:
        return "  valid app (no app descriptor)"
    return (
        f"  {app['project_name']} {app['version']} (IDF {app['idf_version']}, "
        f"{app['compile_date']} {app['compile_time']}, ELF SHA-256 {app['elf_sha256'][:16]}...)"
    )


def _record_text(record: dict[str, Any]) -> str:
    if record["sequence"] == 0xFFFFFFFF:
        return "empty"
    crc = "CRC valid" if record["crc_valid"] else "CRC INVALID"
    return f"sequence {record['sequence']}, state {record['state']}, {crc}"


def run_backup(invocation: Invocation) -> None:
    def body(invocation: Invocation, device: Device) -> None:
        from espforge.fileio import write_output
        from espforge.flash.backup import create_backup

        values = invocation.arguments
        names = [name.strip() for name in (values["partitions"] or "").split(",") if name.strip()]
        archive = create_backup(device, names, values["partition_table_offset"])
        write_output(values["filename"], archive)
        what = f"partitions {', '.join(names)}" if names else "the whole flash"
        invocation.echo(f"Backed up {what} into {values['filename']} ({len(archive)} bytes).")

    _on_chip(invocation, body)


def run_restore(invocation: Invocation) -> None:
    from espforge.flash.backup import load_backup

    backup = load_backup(invocation.arguments["filename"])  # checked before connecting

    def body(invocation: Invocation, device: Device) -> None:
        from espforge.flash.backup import restore_backup

        report = restore_backup(device, backup, invocation.arguments["force"])
        invocation.echo(
            f"Restored {invocation.arguments['filename']}: wrote {report.bytes_written} bytes, "
            f"{report.bytes_unchanged} bytes already matched."
        )
        if report.flash_md5_matches is False:
            raise EspforgeError("after restoring, the flash MD5 differs from the backup's")
        if report.flash_md5_matches:
            invocation.echo("The flash MD5 matches the backup's.")

    _on_chip(invocation, body)
