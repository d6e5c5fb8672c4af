"""OTA data: the records ESP-IDF writes, the bootloader's choice of app, switching and rollback."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.errors import ImageError
from espforge.image.otadata import (
    OtaRecord,
    OtaState,
    active_record,
    read_records,
    select_boot_partition,
    sequence_crc,
    slot_of,
    switch_record,
    switch_slot,
)
from espforge.image.partition_table import parse_csv

SECTOR = 0x1000
BLANK = b"\xff" * 0x2000

TWO_OTA = parse_csv(
    "nvs, data, nvs, , 0x4000\notadata, data, ota, , 0x2000\nphy_init, data, phy, , 0x1000\n"
    "factory, app, factory, , 1M\nota_0, app, ota_0, , 1M\nota_1, app, ota_1, , 1M\n"
)
THREE_SLOTS_NO_FACTORY = parse_csv(
    "otadata, data, ota, , 0x2000\nota_2, app, ota_2, , 1M\nota_0, app, ota_0, , 1M\n"
    "ota_1, app, ota_1, , 1M\n"
)


def record_bytes(sequence: int, state: int = 0xFFFFFFFF, crc: int | None = None) -> bytes:
    """A record laid out from the reference: seq, 20 label bytes of 0xFF, state, crc."""
    if crc is None:
        crc = zlib.crc32(struct.pack("<I", sequence), 0xFFFFFFFF)
    return struct.pack("<I", sequence) + b"\xff" * 20 + struct.pack("<II", state, crc)


def otadata(first: bytes | None = None, second: bytes | None = None) -> bytes:
    sectors = [
        (record or b"").ljust(SECTOR, b"\xff") if record else b"\xff" * SECTOR
        for record in (first, second)
    ]
    return b"".join(sectors)


def test_known_record_bytes():
    assert sequence_crc(1) == zlib.crc32(b"\x01\0\0\0", 0xFFFFFFFF) == 0x4743989A
    assert OtaRecord.for_sequence(1).pack() == bytes.fromhex(
        "01000000" + "ff" * 20 + "ffffffff" + "9a984347"
    )
    assert OtaRecord.for_sequence(2, OtaState.NEW).pack() == record_bytes(2, 0)
    assert OtaRecord.unpack(record_bytes(7, 2)) == OtaRecord.for_sequence(7, OtaState.VALID)


def test_reading_both_records_validity_and_states():
    first, second = read_records(otadata(record_bytes(3, 2), record_bytes(4, 1, crc=0)))
    assert (first.sequence, first.valid, first.state_name) == (3, True, "VALID")
    assert (second.sequence, second.crc_valid, second.valid) == (4, False, False)
    assert second.state_name == "PENDING_VERIFY"
    empty, _ = read_records(BLANK)
    assert empty.empty and not empty.valid and empty.state_name == "UNDEFINED"
    assert OtaRecord(5, 0x1234, sequence_crc(5)).state_name == "0x00001234"
    with pytest.raises(ImageError, match="otadata: holds 4096 bytes; OTA data needs both sectors"):
        read_records(b"\xff" * SECTOR)


def test_blank_otadata_boots_factory_else_slot_0():
    choice = select_boot_partition(TWO_OTA, BLANK)
    assert (choice.partition.name, choice.slot, choice.record) == ("factory", None, None)
    assert choice.reason == "no valid OTA data record"
    assert [p.name for p in choice.candidates] == ["factory", "ota_0", "ota_1"]
    choice = select_boot_partition(THREE_SLOTS_NO_FACTORY, BLANK)
    assert (choice.partition.name, choice.slot) == ("ota_0", 0)
    assert [p.name for p in choice.candidates] == ["ota_0", "ota_1", "ota_2"]


def test_highest_valid_sequence_picks_the_slot():
    data = otadata(record_bytes(4), record_bytes(5))
    choice = select_boot_partition(THREE_SLOTS_NO_FACTORY, data)
    assert (choice.partition.name, choice.slot, choice.record) == ("ota_1", 1, 1)
    assert choice.reason == (
        "otadata[1] has the highest valid sequence number 5: (5 - 1) % 3 = slot 1"
    )
    # Tried in the bootloader's order when an image fails: back down to factory, then up.
    assert [p.name for p in choice.candidates] == ["ota_1", "ota_0", "ota_2"]
    choice = select_boot_partition(TWO_OTA, otadata(record_bytes(4), record_bytes(5, crc=1)))
    assert (choice.partition.name, choice.record) == ("ota_1", 0)
    assert [p.name for p in choice.candidates] == ["ota_1", "ota_0", "factory"]


def test_tables_without_otadata_or_slots_boot_factory():
    plain = parse_csv("factory, app, factory, 0x10000, 1M\ntest, app, test, , 1M")
    choice = select_boot_partition(plain, None)
    assert (choice.partition.name, choice.reason) == ("factory", "no OTA data partition")
    assert [p.name for p in choice.candidates] == ["factory", "test"]
    no_slots = parse_csv("otadata, data, ota, , 0x2000\nfactory, app, factory, , 1M")
    choice = select_boot_partition(no_slots, otadata(record_bytes(2)))
    assert (choice.partition.name, choice.reason) == ("factory", "no OTA app partitions")
    assert select_boot_partition(parse_csv("nvs, data, nvs, , 0x6000"), None).partition is None


def test_rollback_skips_invalid_and_aborts_pending_apps():
    pending = otadata(record_bytes(1, OtaState.VALID), record_bytes(2, OtaState.PENDING_VERIFY))
    without = select_boot_partition(TWO_OTA, pending)
    assert (without.partition.name, without.rewrites) == ("ota_1", ())
    choice = select_boot_partition(TWO_OTA, pending, rollback=True)
    assert (choice.partition.name, choice.record) == ("ota_0", 0)
    assert choice.rewrites == ((1, OtaRecord.for_sequence(2, OtaState.ABORTED)),)

    invalid = otadata(record_bytes(1, OtaState.VALID), record_bytes(2, OtaState.INVALID))
    assert select_boot_partition(TWO_OTA, invalid, rollback=True).partition.name == "ota_0"
    both_bad = otadata(record_bytes(1, OtaState.ABORTED), record_bytes(2, OtaState.INVALID))
    assert select_boot_partition(TWO_OTA, both_bad, rollback=True).partition.name == "factory"

    new = otadata(record_bytes(1, OtaState.VALID), record_bytes(2, OtaState.NEW))
    choice = select_boot_partition(TWO_OTA, new, rollback=True)
    assert choice.partition.name == "ota_1"
    assert choice.rewrites == ((1, OtaRecord.for_sequence(2, OtaState.PENDING_VERIFY)),)


def test_equal_sequences_count_the_first_sector():
    records = (OtaRecord.for_sequence(3), OtaRecord.for_sequence(3))
    assert active_record(records) == 0
    assert switch_record(records, 0, 2)[0] == 1


# ---------------------------------------------------------------------- switching


def test_switching_from_blank_writes_slot_plus_one_into_sector_0():
    data = switch_slot(BLANK, 1, 2)
    assert data == record_bytes(2).ljust(SECTOR, b"\xff") + b"\xff" * SECTOR
    assert switch_slot(BLANK, 0, 2, rollback=True)[:32] == record_bytes(1, OtaState.NEW)


@pytest.mark.parametrize(
    ("slot_count", "slots", "sequences"),
    [
        (2, [1, 0, 0, 1, 1, 0], [2, 3, 3, 4, 4, 5]),
        (3, [0, 2, 1, 1, 0, 2, 2], [1, 3, 5, 5, 7, 9, 9]),
        (3, [2, 0, 1, 2], [3, 4, 5, 6]),
    ],
)
def test_switching_sequences(slot_count, slots, sequences):
    data = BLANK
    active = None
    for slot, sequence in zip(slots, sequences, strict=True):
        data = switch_slot(data, slot, slot_count)
        records = read_records(data)
        written = 0 if active is None else 1 - active  # the sector not holding the highest
        assert records[written] == OtaRecord.for_sequence(sequence)
        active = active_record(records)  # a tie counts the first sector
        assert records[active].slot(slot_count) == slot


def test_switching_keeps_the_other_sector_and_erases_the_rest_of_its_own():
    junk = bytes(range(256)) * 16
    data = record_bytes(6) + junk[32:] + record_bytes(3) + junk[32:]
    result = switch_slot(data, 0, 2)
    assert result[:SECTOR] == data[:SECTOR]
    assert result[SECTOR:] == record_bytes(7).ljust(SECTOR, b"\xff")


def test_switching_ignores_records_with_a_bad_crc():
    data = otadata(record_bytes(9, crc=0), record_bytes(2))
    assert switch_record(read_records(data), 0, 2) == (0, OtaRecord.for_sequence(3))


def test_switch_by_name_and_refusals():
    assert slot_of(THREE_SLOTS_NO_FACTORY, "ota_2") == 2
    with pytest.raises(ImageError, match="'factory' is not an OTA app partition.*ota_0, ota_1"):
        slot_of(TWO_OTA, "factory")
    with pytest.raises(ImageError, match="slot 2 does not exist: choose 0 to 1"):
        switch_slot(BLANK, 2, 2)
    with pytest.raises(ImageError, match="no OTA app partitions"):
        switch_slot(BLANK, 0, 0)
    with pytest.raises(ImageError, match="overflow"):
        switch_slot(otadata(record_bytes(0xFFFFFFFE)), 0, 2)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 16),
    st.data(),
    st.tuples(st.integers(0, 0xFFFF0000), st.integers(0, 0xFFFF0000)),
    st.tuples(st.booleans(), st.booleans()),
)
def test_a_switch_always_makes_the_bootloader_pick_that_slot(slot_count, data, sequences, valid):
    slot = data.draw(st.integers(0, slot_count - 1))
    records = [
        record_bytes(seq) if ok else record_bytes(seq, crc=sequence_crc(seq) ^ 1)
        for seq, ok in zip(sequences, valid, strict=True)
    ]
    before = read_records(otadata(*records))
    highest = max((r.sequence for r in before if r.valid), default=0)
    after = read_records(switch_slot(otadata(*records), slot, slot_count))
    chosen = after[active_record(after)]
    assert chosen.slot(slot_count) == slot
    assert highest <= chosen.sequence < max(highest, 1) + slot_count
