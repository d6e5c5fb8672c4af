"""`espforge ota ...` (otatool.py's commands) against the virtual chip: the records written byte
for byte as ESP-IDF writes them, nothing else touched, and the virtual chip booting the app
the switch chose."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_partition_device import changed_ranges

from boards import CHIPS, Board, app_image, record, sector
from espforge.flash import open_device
from espforge.flash.partitions import ota_slot, read_partition_table, switch_ota_partition
from espforge.protocol.connect import ConnectOptions
from espforge.virtual.chip import ChipOptions, VirtualChip
from espforge.virtual.config import chip_options

OTADATA = 0xD000


@pytest.fixture(params=CHIPS)
def board(request, tmp_path: Path) -> Board:
    board = Board(request.param, tmp_path)
    board.install(
        apps={
            "factory": app_image(request.param),
            "ota_0": app_image(request.param, "hello", "2.0"),
            "ota_1": app_image(request.param, "hello", "3.0"),
        }
    )
    return board


def booted(board: Board) -> tuple[str | None, str]:
    """Power the board up from flash: the partition its bootloader starts, and its output."""
    chip = VirtualChip.create(
        board.chip, "1MB", str(board.flash_file), ChipOptions(start_in_app=True)
    )
    try:
        assert chip.last_boot is not None
        partition = chip.last_boot.partition
        return (partition.name if partition else None), chip.read().decode()
    finally:
        chip.close()


def test_blank_otadata_boots_factory(board: Board):
    report = board.output("ota", "read-otadata")
    assert report[1:3] == ["  otadata[0]: empty", "  otadata[1]: empty"]
    assert report[3] == "Boots next: factory (no valid OTA data record)"
    assert booted(board)[0] == "factory"


def test_switching_writes_esp_idf_records_and_nothing_else(board: Board):
    before = board.flash()
    board.run("ota", "switch-ota-partition", "--slot", "1")
    after = board.flash()
    assert changed_ranges(before, after) == [(OTADATA, OTADATA + 0x1000)]
    assert after[OTADATA : OTADATA + 0x1000] == sector(record(2))
    name, output = booted(board)
    assert name == "ota_1" and "Loaded app from partition at offset 0x90000" in output

    board.run("ota", "switch_ota_partition", "--name", "ota_0")  # otatool's spelling
    assert board.flash(OTADATA, 0x1000) == sector(record(2))  # the other sector stays
    assert board.flash(OTADATA + 0x1000, 0x1000) == sector(record(3))
    report = board.output("ota", "read-otadata")
    crc3 = zlib.crc32(struct.pack("<I", 3), 0xFFFFFFFF)
    assert report[2] == (
        f"  otadata[1]: sequence 3, state UNDEFINED, CRC {crc3:#010x} valid, selects slot 0 (ota_0)"
    )
    assert report[3].startswith("Boots next: ota_0 (otadata[1] has the highest valid sequence")
    assert booted(board)[0] == "ota_0"

    board.run("ota", "switch-ota-partition", "--slot", "1")
    assert board.flash(OTADATA, 0x1000) == sector(record(4))  # back into sector 0
    assert booted(board)[0] == "ota_1"


def test_erase_otadata_falls_back_to_factory(board: Board):
    board.run("ota", "switch-ota-partition", "--slot", "1")
    before = board.flash()
    board.run("ota", "erase-otadata")
    after = board.flash()
    assert after[OTADATA : OTADATA + 0x2000] == b"\xff" * 0x2000
    assert changed_ranges(before, after) == [(OTADATA, OTADATA + 0x1000)]
    assert booted(board)[0] == "factory"


def test_a_broken_slot_falls_back(board: Board):
    board.run("ota", "switch-ota-partition", "--slot", "1")
    board.run("partition", "erase-partition", "--partition-name", "ota_1")
    name, output = booted(board)
    assert name == "ota_0"
    assert "esp_image: image at 0x90000 has invalid magic byte (nothing flashed here?)" in output


def test_read_and_write_ota_partitions(board: Board):
    output = board.folder / "slot1.bin"
    board.run("ota", "read-ota-partition", "--slot", "1", "--output", str(output))
    assert output.read_bytes() == board.flash(0x90000, 0x40000)
    new_app = app_image(board.chip, "hello", "4.0")
    before = board.flash()
    board.run(
        "ota", "write-ota-partition", "--name", "ota_0", "--input", board.file("n.bin", new_app)
    )
    after = board.flash()
    assert after[0x50000 : 0x50000 + len(new_app)] == new_app
    assert all(start >= 0x50000 and end <= 0x90000 for start, end in changed_ranges(before, after))
    garbage = board.file("g.bin", b"\x00" * 64)
    refused = board.run("ota", "write-ota-partition", "--slot", "0", "--input", garbage, ok=False)
    assert "nothing was written" in refused.stderr
    assert board.flash() == after


def test_refusals(board: Board):
    before = board.flash()
    assert (
        "slot 2 does not exist"
        in board.run("ota", "switch-ota-partition", "--slot", "2", ok=False).stderr
    )
    not_ota = board.run("ota", "switch-ota-partition", "--name", "factory", ok=False)
    assert "'factory' is not an OTA app partition" in not_ota.stderr
    both = board.run("ota", "switch-ota-partition", "--slot", "0", "--name", "ota_0", ok=False)
    assert "cannot be combined" in both.stderr
    assert board.flash() == before


def test_rollback_gives_a_new_app_one_boot_to_confirm_itself(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    board.install(apps={"ota_0": app_image("esp32c3"), "ota_1": app_image("esp32c3", "b", "2")})
    board.run("ota", "switch-ota-partition", "--slot", "0")
    board.run("ota", "switch-ota-partition", "--slot", "1", "--rollback")
    assert board.flash(OTADATA + 0x1000, 0x1000) == sector(record(2, state=0))  # NEW
    options = chip_options("esp32c3", {"rollback": "1"})  # as virtual://esp32c3?rollback=1
    chip = VirtualChip.create("esp32c3", "1MB", str(board.flash_file), options)
    try:
        chip.reset(download=False)
        assert chip.last_boot.partition.name == "ota_1"
        assert "otadata[1]: state NEW -> PENDING_VERIFY" in chip.read().decode()
        assert board.flash(OTADATA + 0x1000, 32) == record(2, state=1)
        chip.reset(download=False)  # the app never marked itself valid
        assert chip.last_boot.partition.name == "ota_0"
        assert "otadata[1]: state PENDING_VERIFY -> ABORTED" in chip.read().decode()
        assert board.flash(OTADATA + 0x1000, 32) == record(2, state=4)
    finally:
        chip.close()
    report = board.output("ota", "read-otadata")
    assert report[2].startswith("  otadata[1]: sequence 2, state ABORTED")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(slots=st.lists(st.sampled_from(["ota_0", "ota_1"]), min_size=1, max_size=5))
def test_any_switch_sequence_boots_the_last_slot_chosen(slots: list[str], tmp_path_factory):
    board = Board("esp32c3", tmp_path_factory.mktemp("ota"))
    board.install(apps={"ota_0": app_image("esp32c3"), "ota_1": app_image("esp32c3", "b", "2")})
    with open_device(ConnectOptions(board.url, "esp32c3", before="no-reset"), after=None) as device:
        device.attach_flash()
        device.configure_flash_size("detect")
        table = read_partition_table(device)
        for name in slots:
            switch_ota_partition(device, table, ota_slot(table, name=name))
    assert booted(board)[0] == slots[-1]
