"""ESP-IDF partitions on a connected chip: the table read from flash, one partition read,
written or erased, and the OTA data read, switched or erased.

These are the operations of ESP-IDF's `parttool.py` and `otatool.py`, over `Device`. Every write
is checked before the flash changes (size, image for this chip, readonly flag), and goes through
the ordinary write path, so it is verified by MD5 where the ROM can.
"""

from __future__ import annotations

from dataclasses import dataclass

from espforge.errors import EspforgeError, ImageError
from espforge.fileio import read_input
from espforge.flash.device import Device
from espforge.flash.erase import erase_region
from espforge.flash.plan import WriteOptions
from espforge.flash.read import read_flash
from espforge.flash.write import WriteReport, write_flash
from espforge.image.flash_input import FlashInput, align_up
from espforge.image.layout_check import Finding, blocking_findings, layout_findings
from espforge.image.otadata import (
    OTADATA_SECTOR_SIZE,
    RECORD_SIZE,
    BootSelection,
    OtaRecord,
    read_records,
    select_boot_partition,
    slot_of,
    switch_record,
)
from espforge.image.partition_table import (
    DEFAULT_TABLE_OFFSET,
    END_MARKER,
    ENTRY_MAGIC,
    MAX_TABLE_LENGTH,
    MD5_MAGIC,
    Partition,
    PartitionTable,
    is_binary_table,
    parse_binary,
    parse_csv,
)
from espforge.logs import library_logger

log = library_logger(__name__)

ERASED = b"\xff"


# ------------------------------------------------------------------------- the table


def table_from_flash(data: bytes, offset: int = DEFAULT_TABLE_OFFSET) -> PartitionTable:
    """The table in `data`, read from flash at `offset`; a blank or foreign sector is one line
    saying so."""
    source = f"the partition table at {offset:#x}"
    if data[: len(END_MARKER)] == END_MARKER:
        raise ImageError(
            f"{source}: the flash there is blank, there is no partition table (flash one, or "
            "give --partition-table-offset or --partition-table-file)"
        )
    if data[:2] not in (ENTRY_MAGIC, MD5_MAGIC):
        raise ImageError(
            f"{source}: the flash there starts with {data[:2].hex()}, not a table entry (aa50); "
            "is the table elsewhere (--partition-table-offset), or is the flash encrypted?"
        )
    return parse_binary(data, table_offset=offset, source=source)


def read_partition_table(device: Device, offset: int = DEFAULT_TABLE_OFFSET) -> PartitionTable:
    """The partition table in the chip's flash at `offset`."""
    return table_from_flash(read_flash(device, offset, MAX_TABLE_LENGTH), offset)


def load_table_file(
    path: str, offset: int = DEFAULT_TABLE_OFFSET, bootloader_offset: int | None = None
) -> PartitionTable:
    """A table from a binary or CSV file (told apart by the binary magic)."""
    data = read_input(path)
    if is_binary_table(data):
        return parse_binary(data, table_offset=offset, source=path)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ImageError(
            f"{path}: is neither a binary partition table nor CSV text: give a table file"
        ) from None
    return parse_csv(text, table_offset=offset, bootloader_offset=bootloader_offset, source=path)


@dataclass(frozen=True)
class PartitionChoice:
    """How a command names its partition, as parttool's options do."""

    name: str | None = None
    type: str | None = None
    subtype: str | None = None
    boot_default: bool = False

    def find(self, table: PartitionTable) -> Partition:
        if self.boot_default:
            partition = table.boot_default()
            if partition is None:
                raise EspforgeError("the partition table has neither a factory nor an ota_0 app")
            return partition
        if self.name is not None:
            return table.get(self.name)
        if self.type is None:
            raise EspforgeError(
                "choose a partition: --partition-name, --partition-type (with "
                "--partition-subtype) or --partition-boot-default"
            )
        partition = table.find_by_type(self.type, self.subtype)
        if partition is None:
            subtype = "" if self.subtype is None else f", subtype {self.subtype}"
            raise EspforgeError(
                f"the partition table has no partition of type {self.type}{subtype}"
            )
        return partition


# --------------------------------------------------------------- one partition


def read_partition(device: Device, partition: Partition) -> bytes:
    """The whole contents of `partition`."""
    return read_flash(device, partition.offset, partition.size)


def check_partition_write(
    device: Device,
    table: PartitionTable,
    partition: Partition,
    data: bytes,
    source: str,
    force: bool = False,
) -> list[Finding]:
    """Refuse a write that does not fit, or (unless `force`) one into a readonly partition or
    an app partition that is not a valid app image for this chip. Returns the findings that do
    not stop it (warnings, and errors `force` overrides)."""
    if len(data) > partition.size:
        raise EspforgeError(
            f"{source} holds {len(data)} bytes ({len(data):#x}) but partition "
            f"'{partition.name}' only {partition.size:#x}: nothing was written"
        )
    if partition.readonly and not force:
        raise EspforgeError(
            f"partition '{partition.name}' is flagged readonly: nothing was written "
            "(--force writes it anyway)"
        )
    findings = layout_findings(
        device.chip,
        [FlashInput(partition.offset, data, source)],
        partition_table_offset=table.offset,
        partition_table=table,
    )
    blocking = blocking_findings(findings, force)
    if blocking:
        raise EspforgeError(f"{blocking[0].message}: nothing was written (--force skips this)")
    return findings


def write_partition(
    device: Device,
    table: PartitionTable,
    partition: Partition,
    data: bytes,
    source: str = "input",
    force: bool = False,
) -> WriteReport:
    """Write `data` at the start of `partition` and erase the rest of it, as parttool does."""
    for finding in check_partition_write(device, table, partition, data, source, force):
        log.info(str(finding))
    report = WriteReport()
    if data:
        item = FlashInput(partition.offset, data, source)
        report = write_flash(device, [item], WriteOptions(force=force, layout_check=False))
    rest = align_up(partition.offset + len(data))
    if rest < partition.end:
        erase_region(device, rest, partition.end - rest, force=force)
    return report


def erase_partition(device: Device, partition: Partition, force: bool = False) -> None:
    erase_region(device, partition.offset, partition.size, force=force)


# ---------------------------------------------------------------------- OTA data


@dataclass(frozen=True)
class OtaStatus:
    """The OTA data as read from the chip, and what the bootloader makes of it."""

    partition: Partition
    data: bytes
    records: tuple[OtaRecord, OtaRecord]
    selection: BootSelection


def otadata_partition(table: PartitionTable) -> Partition:
    partition = table.otadata()
    if partition is None:
        raise EspforgeError("the partition table has no OTA data (data/ota) partition")
    return partition


def read_ota_status(device: Device, table: PartitionTable) -> OtaStatus:
    partition = otadata_partition(table)
    data = read_partition(device, partition)
    records = read_records(data, f"partition '{partition.name}'")
    return OtaStatus(partition, data, records, select_boot_partition(table, data))


def ota_slot(table: PartitionTable, slot: int | None = None, name: str | None = None) -> int:
    """The OTA slot number given as a number or as the name of its partition."""
    if name is not None:
        return slot_of(table, name)
    if slot is None:
        raise EspforgeError("choose the OTA slot: --slot N or --name NAME")
    count = len(table.ota_slots())
    if not 0 <= slot < count:
        raise EspforgeError(
            f"OTA slot {slot} does not exist: the table has {count} OTA app partition(s)"
        )
    return slot


def switch_ota_partition(
    device: Device, table: PartitionTable, slot: int, rollback: bool = False
) -> tuple[int, OtaRecord]:
    """Make the bootloader start OTA slot `slot` next, writing the record ESP-IDF writes into
    the sector not holding the current one (state NEW with `rollback`, as an app built with
    rollback writes it). Returns that sector and record."""
    status = read_ota_status(device, table)
    slot_count = len(table.ota_slots())
    sector, record = switch_record(status.records, slot, slot_count, rollback=rollback)
    address = status.partition.offset + sector * OTADATA_SECTOR_SIZE
    contents = record.pack() + ERASED * (OTADATA_SECTOR_SIZE - RECORD_SIZE)
    write_flash(
        device, [FlashInput(address, contents, "OTA data")], WriteOptions(layout_check=False)
    )
    return sector, record


def erase_otadata(device: Device, table: PartitionTable) -> Partition:
    """Erase both OTA data sectors: the bootloader falls back to factory (or ota_0)."""
    partition = otadata_partition(table)
    erase_partition(device, partition)
    return partition
