"""The OTA data partition: which OTA app slot ESP-IDF's bootloader starts, and how to switch it.

The data/ota partition is two 4 KB sectors; each starts with one 32-byte record (sequence
number, an unused label, a state for rollback, and a CRC-32 of the sequence number). The
bootloader boots slot (seq - 1) % N of the valid record with the highest sequence number, N being
the number of OTA app partitions. Everything here is pure: bytes in, decisions and bytes out.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum

from espforge.errors import ImageError
from espforge.image.partition_table import APP, FACTORY, Partition, PartitionTable

OTADATA_SECTOR_SIZE = 0x1000
RECORD_SIZE = 32
LABEL_SIZE = 20
EMPTY_SEQUENCE = 0xFFFFFFFF
TEST_APP_SUBTYPE = 0x20
_RECORD = struct.Struct(f"<I{LABEL_SIZE}sII")
_FACTORY_INDEX = -1  # the bootloader's index for the factory app, just before slot 0


class OtaState(IntEnum):
    """`ota_state` values; only a bootloader built with app rollback acts on them."""

    NEW = 0
    PENDING_VERIFY = 1
    VALID = 2
    INVALID = 3
    ABORTED = 4
    UNDEFINED = 0xFFFFFFFF


_UNBOOTABLE_STATES = (OtaState.INVALID, OtaState.ABORTED)


def sequence_crc(sequence: int) -> int:
    """The record's CRC: CRC-32 of the 4 sequence bytes, started from 0xFFFFFFFF as ESP-IDF does."""
    return zlib.crc32(struct.pack("<I", sequence), 0xFFFFFFFF)


@dataclass(frozen=True)
class OtaRecord:
    """One `esp_ota_select_entry_t`: as read (crc as stored) or built (crc computed)."""

    sequence: int = EMPTY_SEQUENCE
    state: int = OtaState.UNDEFINED
    crc: int = 0xFFFFFFFF
    label: bytes = b"\xff" * LABEL_SIZE

    @classmethod
    def for_sequence(cls, sequence: int, state: int = OtaState.UNDEFINED) -> OtaRecord:
        return cls(sequence, state, sequence_crc(sequence))

    @classmethod
    def unpack(cls, raw: bytes) -> OtaRecord:
        sequence, label, state, crc = _RECORD.unpack(raw[:RECORD_SIZE])
        return cls(sequence, state, crc, label)

    def pack(self) -> bytes:
        return _RECORD.pack(self.sequence, self.label, self.state, self.crc)

    @property
    def empty(self) -> bool:
        return self.sequence == EMPTY_SEQUENCE

    @property
    def crc_valid(self) -> bool:
        return self.crc == sequence_crc(self.sequence)

    @property
    def valid(self) -> bool:
        """A sequence number is set and the CRC matches it."""
        return not self.empty and self.crc_valid

    @property
    def state_name(self) -> str:
        try:
            return OtaState(self.state).name
        except ValueError:
            return f"{self.state:#010x}"

    def bootable(self, rollback: bool) -> bool:
        """Whether the bootloader may follow this record (rollback also skips failed apps)."""
        return self.valid and not (rollback and self.state in _UNBOOTABLE_STATES)

    def slot(self, slot_count: int) -> int:
        """The slot this record selects; the bootloader computes in 32-bit unsigned."""
        return ((self.sequence - 1) & 0xFFFFFFFF) % slot_count


def read_records(otadata: bytes, source: str = "otadata") -> tuple[OtaRecord, OtaRecord]:
    """The records at the start of both sectors of the otadata partition's contents."""
    needed = OTADATA_SECTOR_SIZE + RECORD_SIZE
    if len(otadata) < needed:
        raise ImageError(
            f"{source}: holds {len(otadata)} bytes; OTA data needs both sectors "
            f"(at least {needed:#x} bytes, normally 0x2000)"
        )
    return (
        OtaRecord.unpack(otadata[:RECORD_SIZE]),
        OtaRecord.unpack(otadata[OTADATA_SECTOR_SIZE:needed]),
    )


def active_record(records: Sequence[OtaRecord], rollback: bool = False) -> int | None:
    """Index of the record that counts: the highest sequence among the usable ones; a tie goes
    to the first sector. None when neither is usable."""
    usable = [index for index, record in enumerate(records) if record.bootable(rollback)]
    if not usable:
        return None
    return max(usable, key=lambda index: (records[index].sequence, -index))


# ------------------------------------------------------------------------ boot selection


@dataclass(frozen=True)
class BootSelection:
    """What the second-stage bootloader decides from the table and the OTA data.

    `partition` is the app it tries first (None if the table has none to try) and `slot` its
    OTA slot (None for factory). `candidates` lists every app in the order the bootloader tries
    them when an image fails its checks. `rewrites` are the (sector, record) pairs a bootloader
    with rollback writes back before booting.
    """

    partition: Partition | None
    slot: int | None
    record: int | None
    reason: str
    candidates: tuple[Partition, ...]
    rewrites: tuple[tuple[int, OtaRecord], ...] = ()


def select_boot_partition(
    table: PartitionTable, otadata: bytes | None, *, rollback: bool = False
) -> BootSelection:
    """The app ESP-IDF's bootloader starts. `otadata` is the data/ota partition's contents
    (None when they were not read); `rollback` is the bootloader's app-rollback option."""
    if table.otadata() is None:
        return _selection(table, _FACTORY_INDEX, None, "no OTA data partition")
    if otadata is None:
        return _selection(table, _FACTORY_INDEX, None, "the OTA data was not read")
    records = list(read_records(otadata))
    rewrites = []
    if rollback:  # an app that never confirmed itself is given up before choosing
        for index, record in enumerate(records):
            if record.state == OtaState.PENDING_VERIFY:
                records[index] = replace(record, state=OtaState.ABORTED)
                rewrites.append((index, records[index]))
    slot_count = len(table.ota_slots())
    active = active_record(records, rollback)
    if not slot_count:
        return _selection(table, _FACTORY_INDEX, None, "no OTA app partitions", rewrites)
    if active is None:
        # The factory app if there is one, else slot 0: both orders try the same apps.
        return _selection(table, _FACTORY_INDEX, None, "no valid OTA data record", rewrites)
    chosen = records[active]
    slot = chosen.slot(slot_count)
    reason = (
        f"otadata[{active}] has the highest valid sequence number {chosen.sequence}: "
        f"({chosen.sequence} - 1) % {slot_count} = slot {slot}"
    )
    if rollback and chosen.state == OtaState.NEW:  # one boot to confirm itself, or be aborted
        rewrites.append((active, replace(chosen, state=OtaState.PENDING_VERIFY)))
    return _selection(table, slot, active, reason, rewrites)


def _selection(
    table: PartitionTable,
    start: int,
    record: int | None,
    reason: str,
    rewrites: Sequence[tuple[int, OtaRecord]] = (),
) -> BootSelection:
    candidates = _boot_order(table, start)
    first = candidates[0] if candidates else None
    slots = table.ota_slots()
    return BootSelection(
        partition=first,
        slot=slots.index(first) if first in slots else None,
        record=record,
        reason=reason,
        candidates=tuple(candidates),
        rewrites=tuple(rewrites),
    )


def _boot_order(table: PartitionTable, start: int) -> list[Partition]:
    """The bootloader's order: back from `start` to factory, on to the last slot, then test."""
    indexes = [*range(start, _FACTORY_INDEX - 1, -1), *range(start + 1, len(table.ota_slots()))]
    apps = [_app_at(table, index) for index in indexes]
    apps.append(table.find_by_type(APP, TEST_APP_SUBTYPE))
    return [app for app in apps if app is not None]


def _app_at(table: PartitionTable, index: int) -> Partition | None:
    if index == _FACTORY_INDEX:
        return table.find_by_type(APP, FACTORY)
    slots = table.ota_slots()
    return slots[index] if index < len(slots) else None


# ----------------------------------------------------------------------------- switching


def slot_of(table: PartitionTable, name: str) -> int:
    """The OTA slot number of the app partition called `name`."""
    slots = table.ota_slots()
    for index, partition in enumerate(slots):
        if partition.name == name:
            return index
    names = ", ".join(partition.name for partition in slots) or "none"
    raise ImageError(f"'{name}' is not an OTA app partition (the OTA slots are: {names})")


def switch_record(
    records: Sequence[OtaRecord], slot: int, slot_count: int, *, rollback: bool = False
) -> tuple[int, OtaRecord]:
    """The sector to rewrite and the record that makes the bootloader start `slot`, as
    ESP-IDF writes it: the lowest sequence number not below the current highest valid one that
    selects `slot`, into the other sector; state NEW with rollback, else UNDEFINED."""
    if slot_count <= 0:
        raise ImageError("the partition table has no OTA app partitions to switch between")
    if not 0 <= slot < slot_count:
        raise ImageError(f"slot {slot} does not exist: choose 0 to {slot_count - 1}")
    active = active_record(records)
    base = 0 if active is None else records[active].sequence
    rounds = max(0, -(-(base - slot - 1) // slot_count))
    sequence = slot + 1 + rounds * slot_count
    sector = 0 if active is None else 1 - active
    if sequence >= EMPTY_SEQUENCE:
        raise ImageError("the OTA sequence number would overflow: erase the OTA data first")
    state = OtaState.NEW if rollback else OtaState.UNDEFINED
    return sector, OtaRecord.for_sequence(sequence, state)


def switch_slot(
    otadata: bytes, slot: int, slot_count: int, *, rollback: bool = False, source: str = "otadata"
) -> bytes:
    """The otadata partition's new contents after switching to `slot`: the chosen sector erased
    and its record written; the other sector untouched."""
    sector, record = switch_record(
        read_records(otadata, source), slot, slot_count, rollback=rollback
    )
    start = sector * OTADATA_SECTOR_SIZE
    erased = b"\xff" * (OTADATA_SECTOR_SIZE - RECORD_SIZE)
    return otadata[:start] + record.pack() + erased + otadata[start + OTADATA_SECTOR_SIZE :]
