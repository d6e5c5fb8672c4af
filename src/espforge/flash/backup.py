"""Whole-flash (or per-partition) backups of a chip, and restoring them.

A backup is a zip archive holding `manifest.json` and one raw dump per region it covers
(`flash.bin` for the whole flash, `<partition>.bin` per partition otherwise). The manifest names
the chip, its MAC, flash id and size, the partition table's offset, the MD5 of every region, of
every partition covered and (for a whole-flash backup) of the whole flash. Restoring checks those
MD5s first, refuses another chip type or a larger flash unless forced, writes only the 64 KB
blocks whose flash MD5 differs (when the ROM can compute one) and verifies what it wrote.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from espforge.errors import EspforgeError
from espforge.fileio import read_input
from espforge.flash.changed import compare_regions
from espforge.flash.device import Device
from espforge.flash.memory import format_mac, mac_addresses
from espforge.flash.partitions import read_partition_table
from espforge.flash.plan import WriteOptions
from espforge.flash.read import read_flash
from espforge.flash.write import write_flash
from espforge.image.flash_input import FlashInput
from espforge.image.flash_params import flash_size_bytes
from espforge.image.partition_table import DEFAULT_TABLE_OFFSET, Partition, PartitionTable
from espforge.logs import library_logger

log = library_logger(__name__)

FORMAT = "espforge-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WHOLE_FLASH = "flash"
COMPARE_BLOCK = 0x10000  # restore compares and rewrites flash in blocks of this size


@dataclass(frozen=True)
class Region:
    name: str
    offset: int
    data: bytes

    @property
    def file(self) -> str:
        return f"{self.name}.bin"

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data).hexdigest()


@dataclass(frozen=True)
class RestoreReport:
    regions: int
    bytes_written: int
    bytes_unchanged: int
    flash_md5_matches: bool | None  # None: not a whole-flash backup, or no MD5 from the ROM


# ------------------------------------------------------------------------ backup


def detected_flash_bytes(device: Device) -> int:
    name = device.detected_flash_size()
    if name is None:
        raise EspforgeError(
            f"cannot tell the flash size from its id {device.flash_id().raw:#08x}, so the "
            "whole flash cannot be backed up: name the partitions to back up (--partitions)"
        )
    return flash_size_bytes(name)


def create_backup(
    device: Device,
    partitions: Sequence[str] = (),
    table_offset: int = DEFAULT_TABLE_OFFSET,
) -> bytes:
    """The backup archive of the whole flash, or of the partitions named."""
    table = _table_if_any(device, table_offset, required=bool(partitions))
    if partitions:
        assert table is not None
        chosen = [table.get(name) for name in partitions]
        regions = [Region(p.name, p.offset, read_flash(device, p.offset, p.size)) for p in chosen]
        whole_md5 = None
    else:
        size = detected_flash_bytes(device)
        regions = [Region(WHOLE_FLASH, 0, read_flash(device, 0, size))]
        whole_md5 = regions[0].md5
    manifest = _manifest(device, table, table_offset, regions, whole_md5)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
        for region in regions:
            archive.writestr(region.file, region.data)
    return buffer.getvalue()


def _table_if_any(device: Device, offset: int, required: bool) -> PartitionTable | None:
    try:
        return read_partition_table(device, offset)
    except EspforgeError as error:
        if required:
            raise
        log.info(f"Note: {error}; the backup lists no partitions.")
        return None


def _manifest(
    device: Device,
    table: PartitionTable | None,
    table_offset: int,
    regions: Sequence[Region],
    whole_md5: str | None,
) -> dict[str, Any]:
    flash_id = device.flash_id()
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "chip": device.chip.name,
        "chip_name": device.chip.chip_name,
        "mac": format_mac(mac_addresses(device)[0][1]),
        "flash_id": f"{flash_id.raw:#08x}",
        "flash_size": detected_flash_bytes(device) if flash_id.size_name else None,
        "partition_table_offset": table_offset,
        "md5": whole_md5,
        "regions": [
            {
                "name": region.name,
                "offset": region.offset,
                "size": len(region.data),
                "file": region.file,
                "md5": region.md5,
            }
            for region in regions
        ],
        "partitions": [_partition_entry(p, regions) for p in (table or ())],
    }


def _partition_entry(partition: Partition, regions: Sequence[Region]) -> dict[str, Any]:
    return {
        "name": partition.name,
        "type": partition.type_label,
        "subtype": partition.subtype_label,
        "offset": partition.offset,
        "size": partition.size,
        "flags": list(partition.flags),
        "md5": _covered_md5(partition, regions),
    }


def _covered_md5(partition: Partition, regions: Sequence[Region]) -> str | None:
    for region in regions:
        start = partition.offset - region.offset
        if start >= 0 and partition.end <= region.offset + len(region.data):
            return hashlib.md5(region.data[start : start + partition.size]).hexdigest()
    return None


# ----------------------------------------------------------------------- restore


@dataclass(frozen=True)
class Backup:
    manifest: dict[str, Any]
    regions: tuple[Region, ...]


def load_backup(path: str) -> Backup:
    """A backup archive, with every region's MD5 checked against its manifest."""
    try:
        with zipfile.ZipFile(io.BytesIO(read_input(path))) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            if manifest.get("format") != FORMAT:
                raise EspforgeError(f"{path}: is not an espforge backup (no '{FORMAT}' manifest)")
            regions = tuple(
                Region(entry["name"], entry["offset"], archive.read(entry["file"]))
                for entry in manifest["regions"]
            )
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as error:
        raise EspforgeError(f"{path}: is not a readable espforge backup ({error})") from None
    for region, entry in zip(regions, manifest["regions"], strict=True):
        if region.md5 != entry["md5"] or len(region.data) != entry["size"]:
            raise EspforgeError(
                f"{path}: the dump of '{region.name}' does not match its MD5 in the manifest; "
                "the backup is corrupt, nothing was written"
            )
    return Backup(manifest, regions)


def check_backup_suits(device: Device, backup: Backup, force: bool) -> None:
    """Refuse (unless `force`) a backup made on another chip type or on a larger flash."""
    if force:
        return
    manifest = backup.manifest
    if manifest["chip"] != device.chip.name:
        raise EspforgeError(
            f"the backup was made on {manifest['chip_name']}, this chip is "
            f"{device.chip.chip_name}: nothing was written (--force restores it anyway)"
        )
    detected = device.detected_flash_size()
    size = manifest.get("flash_size")
    if size is not None and detected is not None and size > flash_size_bytes(detected):
        raise EspforgeError(
            f"the backup was made on a {size:#x}-byte flash, larger than this chip's "
            f"{detected}: nothing was written (--force restores what fits)"
        )


def restore_backup(device: Device, backup: Backup, force: bool = False) -> RestoreReport:
    """Write the backup's regions back, skipping the blocks flash already holds."""
    check_backup_suits(device, backup, force)
    inputs = [item for region in backup.regions for item in _changed_blocks(device, region)]
    unchanged = sum(len(region.data) for region in backup.regions) - sum(
        len(item.data) for item in inputs
    )
    if inputs:
        write_flash(device, inputs, WriteOptions(force=force, layout_check=False))
    whole = backup.manifest.get("md5")
    matches = None
    if whole is not None and _can_md5(device):
        matches = device.flash_md5(0, len(backup.regions[0].data)) == whole
    written = sum(len(item.data) for item in inputs)
    return RestoreReport(len(backup.regions), written, unchanged, matches)


def _can_md5(device: Device) -> bool:
    return device.can_md5 and not device.secure_download_mode


def _changed_blocks(device: Device, region: Region) -> list[FlashInput]:
    """The runs of 64 KB blocks of `region` whose flash contents differ (all of it when the
    chip cannot compute an MD5)."""
    if not _can_md5(device):
        return [FlashInput(region.offset, region.data, region.file)]
    comparison = compare_regions(device, region.offset, region.data, COMPARE_BLOCK)
    return [
        FlashInput(address, data, f"{region.file}@{address - region.offset:#x}")
        for address, data in comparison.changed
    ]
