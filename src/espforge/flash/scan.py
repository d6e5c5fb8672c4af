"""What is on a board: chip, flash, security, bootloader, partition table, apps and OTA data.

`scan_device` reads only what it needs (image headers first, then each image's own length) and
returns plain data (JSON-ready); what cannot be read is reported as a problem, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from espforge.errors import EspforgeError
from espforge.flash.device import Device
from espforge.flash.memory import format_mac, mac_addresses
from espforge.flash.partitions import read_ota_status, read_partition_table
from espforge.flash.read import read_flash
from espforge.image.descriptors import revision_text
from espforge.image.firmware import (
    EXTENDED_HEADER_END,
    IMAGE_MAGIC,
    SEGMENT_HEADER_SIZE,
    SHA256_SIZE,
    checksum_position,
)
from espforge.image.info import ImageReport, describe_image
from espforge.image.otadata import OtaRecord, select_boot_partition
from espforge.image.partition_table import DEFAULT_TABLE_OFFSET, Partition, PartitionTable

Reader = Callable[[int, int], bytes]


def image_extent(read: Reader, offset: int, limit: int) -> int | None:
    """How many bytes the ESP32-family image at `offset` spans (header, segments, checksum and
    appended hash), found by walking its segment headers; None when no image starts there or
    it would run past `limit` bytes."""
    header = read(offset, EXTENDED_HEADER_END)
    if len(header) < EXTENDED_HEADER_END or header[0] != IMAGE_MAGIC:
        return None
    position = EXTENDED_HEADER_END
    for _ in range(header[1]):
        if position + SEGMENT_HEADER_SIZE > limit:
            return None
        length = int.from_bytes(read(offset + position + 4, 4), "little")
        position += SEGMENT_HEADER_SIZE + length
    end = checksum_position(position) + 1
    if header[EXTENDED_HEADER_END - 1] == 1:  # the "SHA-256 appended" flag
        end += SHA256_SIZE
    return end if end <= limit else None


def read_image(device: Device, offset: int, limit: int) -> bytes | None:
    """The image at `offset` (at most `limit` bytes), or None when none starts there."""
    extent = image_extent(lambda address, size: read_flash(device, address, size), offset, limit)
    return None if extent is None else read_flash(device, offset, extent)


def scan_device(device: Device, table_offset: int = DEFAULT_TABLE_OFFSET) -> dict[str, Any]:
    """Everything `espforge scan` shows, as JSON-ready data (see its keys below)."""
    result: dict[str, Any] = _identity(device)
    problems: list[str] = result.setdefault("problems", [])
    if not device.can_read:
        problems.append(f"the {device.chip.chip_name} ROM cannot read flash: nothing more to show")
        return result | {"bootloader": None} | _unread()
    encrypted = result["security"] is not None and result["security"]["flash_encryption"]
    if encrypted:
        problems.append("flash encryption is on: flash contents read back as ciphertext")
    result["bootloader"] = _bootloader(device, table_offset, problems)
    try:
        table = read_partition_table(device, table_offset)
    except EspforgeError as error:
        problems.append(str(error))
        return result | _unread(table_offset)
    result["partition_table"] = {"offset": table_offset, "entries": len(table)}
    result["partitions"] = [_partition(device, partition) for partition in table]
    valid_apps = {
        entry["name"] for entry in result["partitions"] if (entry["app"] or {}).get("valid")
    }
    result.update(_ota(device, table, valid_apps, problems))
    return result


def _unread(table_offset: int | None = None) -> dict[str, Any]:
    table = None if table_offset is None else {"offset": table_offset, "entries": None}
    return {"partition_table": table, "partitions": [], "otadata": None, "boot_partition": None}


def _identity(device: Device) -> dict[str, Any]:
    chip = device.chip
    revision = None
    if chip.revision is not None:
        major, minor = device.loader.chip_revision()
        revision = f"v{major}.{minor}"
    flash_id = device.flash_id()
    security = None
    info = device.security_info()
    if info is not None:
        security = {
            "secure_boot": info.flag("SECURE_BOOT_EN"),
            "flash_encryption": info.flash_encryption_enabled,
        }
    return {
        "chip": chip.chip_name,
        "revision": revision,
        "mac": format_mac(mac_addresses(device)[0][1]),
        "flash_id": {"manufacturer": flash_id.manufacturer, "device": flash_id.device},
        "flash_size": flash_id.size_name,
        "security": security,
        "problems": [],
    }


def _bootloader(device: Device, table_offset: int, problems: list[str]) -> dict[str, Any] | None:
    offset = device.chip.bootloader_flash_offset
    data = read_image(device, offset, max(table_offset - offset, 0))
    if data is None:
        problems.append(f"no bootloader image at {offset:#x}")
        return None
    report, problem = _describe(data, device, f"the bootloader at {offset:#x}")
    descriptor = report.bootloader_descriptor if report is not None else None
    return {
        "offset": offset,
        "size": len(data),
        "valid": problem is None,
        "problem": problem,
        "version": descriptor.version if descriptor else None,
        "idf_version": descriptor.idf_version if descriptor else None,
        "date_time": descriptor.date_time if descriptor else None,
    }


def _describe(data: bytes, device: Device, source: str) -> tuple[ImageReport | None, str | None]:
    """The image's report and why it is not valid for this chip (None: it is)."""
    try:
        report = describe_image(data, device.chip.name, source)
    except EspforgeError as error:
        return None, str(error)
    if not report.checksum_valid:
        return report, "its checksum does not match (corrupt image)"
    if report.sha256_valid is False:
        return report, "its appended SHA-256 does not match (corrupt image)"
    return report, None


def _partition(device: Device, partition: Partition) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": partition.name,
        "type": partition.type_label,
        "subtype": partition.subtype_label,
        "offset": partition.offset,
        "size": partition.size,
        "flags": list(partition.flags),
        "app": None,
    }
    if partition.is_app:
        entry["app"] = _app(device, partition)
    return entry


def _app(device: Device, partition: Partition) -> dict[str, Any]:
    data = read_image(device, partition.offset, partition.size)
    if data is None:
        return {"valid": False, "problem": "no app image (blank or not an image)"} | _no_desc()
    report, problem = _describe(data, device, f"partition '{partition.name}'")
    descriptor = report.app_descriptor if report is not None else None
    if descriptor is None:
        return {"valid": problem is None, "problem": problem} | _no_desc()
    return {
        "valid": problem is None,
        "problem": problem,
        "project_name": descriptor.project_name,
        "version": descriptor.version,
        "idf_version": descriptor.idf_version,
        "compile_date": descriptor.compile_date,
        "compile_time": descriptor.compile_time,
        "elf_sha256": descriptor.elf_sha256.hex(),
        "secure_version": descriptor.secure_version,
        "efuse_block_revision": [
            revision_text(descriptor.min_efuse_block_revision),
            revision_text(descriptor.max_efuse_block_revision),
        ],
        "size": len(data),
    }


def _no_desc() -> dict[str, Any]:
    keys = ("project_name", "version", "idf_version", "compile_date", "compile_time")
    return dict.fromkeys((*keys, "elf_sha256"))


def _ota(
    device: Device, table: PartitionTable, valid_apps: set[str], problems: list[str]
) -> dict[str, Any]:
    """The OTA data, and the app the bootloader starts: its first choice that holds a valid
    image, as it skips the ones that fail its checks."""
    otadata = None
    selection = select_boot_partition(table, None)
    if table.otadata() is not None:
        try:
            status = read_ota_status(device, table)
        except EspforgeError as error:
            problems.append(str(error))
        else:
            selection = status.selection
            otadata = {
                "partition": status.partition.name,
                "records": [_record(record) for record in status.records],
                "active_record": selection.record,
                "slot": selection.slot,
                "reason": selection.reason,
            }
    boot = next((app.name for app in selection.candidates if app.name in valid_apps), None)
    if boot is None:
        problems.append("no app partition holds a valid image: nothing would boot")
    return {"otadata": otadata, "boot_partition": boot}


def _record(record: OtaRecord) -> dict[str, Any]:
    return {
        "sequence": record.sequence,
        "state": record.state_name,
        "crc_valid": record.crc_valid,
        "valid": record.valid,
    }
