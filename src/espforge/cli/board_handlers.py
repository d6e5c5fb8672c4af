"""Handlers of scan, backup and restore: the whole board at once.

They run connected, with the flash size detected, through `device.device_command`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from espforge.cli.device import device_command
from espforge.cli.framework import CommandOptions, Invocation, output
from espforge.errors import EspforgeError
from espforge.fileio import write_output
from espforge.flash import Device
from espforge.flash.backup import Backup, create_backup, load_backup, restore_backup
from espforge.flash.scan import scan_device


@dataclass(frozen=True)
class ScanOptions(CommandOptions):
    partition_table_offset: int
    json: bool


@device_command(ScanOptions, detect_flash_size=True)
def run_scan(invocation: Invocation, device: Device, options: ScanOptions) -> None:
    report = scan_device(device, options.partition_table_offset)
    # The report is the command's result: printed even with --silent, for scripts.
    output(json.dumps(report, indent=2) if options.json else scan_text(report))


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


@dataclass(frozen=True)
class BackupOptions(CommandOptions):
    filename: str
    partitions: str | None  # comma-separated names
    partition_table_offset: int


@device_command(BackupOptions, detect_flash_size=True)
def run_backup(invocation: Invocation, device: Device, options: BackupOptions) -> None:
    names = [name.strip() for name in (options.partitions or "").split(",") if name.strip()]
    archive = create_backup(device, names, options.partition_table_offset)
    write_output(options.filename, archive)
    what = f"partitions {', '.join(names)}" if names else "the whole flash"
    invocation.echo(f"Backed up {what} into {options.filename} ({len(archive)} bytes).")


@dataclass(frozen=True)
class RestoreOptions(CommandOptions):
    filename: str
    force: bool


def _backup(invocation: Invocation, options: RestoreOptions) -> Backup:
    return load_backup(options.filename)  # checked before connecting


@device_command(RestoreOptions, detect_flash_size=True, prepare=_backup)
def run_restore(
    invocation: Invocation, device: Device, options: RestoreOptions, backup: Backup
) -> None:
    report = restore_backup(device, backup, options.force)
    invocation.echo(
        f"Restored {options.filename}: wrote {report.bytes_written} bytes, "
        f"{report.bytes_unchanged} bytes already matched."
    )
    if report.flash_md5_matches is False:
        raise EspforgeError("after restoring, the flash MD5 differs from the backup's")
    if report.flash_md5_matches:
        invocation.echo("The flash MD5 matches the backup's.")
