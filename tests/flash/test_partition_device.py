"""`espforge partition ...` (parttool.py's commands) against the in-process virtual chip, reading
the raw flash back to check exactly what changed. Also home of the board and image builders the
other partition-device test files share."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from boards import (
    CHIPS,
    MB,
    TABLE,
    TABLE_CSV,
    Board,
    app_image,
)
from espforge.cli.main import build_cli
from espforge.image.partition_table import parse_csv


@pytest.fixture(params=CHIPS)
def board(request, tmp_path: Path) -> Board:
    board = Board(request.param, tmp_path)
    board.install()
    return board


def changed_ranges(before: bytes, after: bytes) -> list[tuple[int, int]]:
    """The 4 KB sectors that differ, merged into [start, end) ranges."""
    ranges: list[tuple[int, int]] = []
    for start in range(0, len(before), 0x1000):
        if before[start : start + 0x1000] != after[start : start + 0x1000]:
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], start + 0x1000)
            else:
                ranges.append((start, start + 0x1000))
    return ranges


# ------------------------------------------------------------------------------ tests


def test_get_partition_info_by_name_type_and_boot_default(board: Board):
    assert board.output("partition", "get-partition-info", "--partition-name", "ota_1") == [
        "0x90000 0x40000"
    ]
    assert board.output(
        "partition",
        "get_partition_info",  # parttool's spelling
        "--partition-type",
        "data",
        "--partition-subtype",
        "spiffs",
        "--info",
        "name",
        "type",
        "subtype",
        "offset",
        "size",
        "encrypted",
        "readonly",
    ) == ["storage 1 130 0xd0000 0x10000 False False"]  # parttool prints numbers
    assert board.output(
        "partition", "get-partition-info", "--partition-boot-default", "--info", "name"
    ) == ["factory"]
    assert board.output(
        "partition",
        "get-partition-info",
        "--partition-type",
        "app",
        "--part-list",
        "--info",
        "name",
        "subtype",
    ) == ["factory 0 ota_0 16 ota_1 17"]


def test_read_partition_gives_exactly_its_bytes(board: Board):
    output = board.folder / "factory.bin"
    board.run("partition", "read-partition", "--partition-name", "factory", "--output", str(output))
    assert output.read_bytes() == board.flash(0x10000, 0x40000)
    assert output.read_bytes().startswith(app_image(board.chip))


def test_write_partition_writes_the_file_and_erases_the_rest_only(board: Board):
    board.seed(0xD0000, b"\x00" * 0x10000)
    before = board.flash()
    data = random.Random(3).randbytes(0x2345)
    board.run(
        "partition",
        "write-partition",
        "--partition-name",
        "storage",
        "--input",
        board.file("d.bin", data),
    )
    after = board.flash()
    assert after[0xD0000 : 0xD0000 + len(data)] == data
    assert after[0xD0000 + len(data) : 0xE0000] == b"\xff" * (0x10000 - len(data))
    assert changed_ranges(before, after) == [(0xD0000, 0xE0000)]


def test_write_app_partition_takes_an_app_image_for_the_chip(board: Board):
    new_app = app_image(board.chip, "second", "2.0")
    board.run(
        "partition",
        "write-partition",
        "--partition-name",
        "ota_0",
        "--input",
        board.file("a.bin", new_app),
    )
    assert board.flash(0x50000, len(new_app)) == new_app
    before = board.flash()
    other_chip = app_image("esp32c3" if board.chip != "esp32c3" else "esp32")
    refused = board.run(
        "partition",
        "write-partition",
        "--partition-name",
        "ota_1",
        "--input",
        board.file("o.bin", other_chip),
        ok=False,
    )
    assert "nothing was written" in refused.stderr
    garbage = board.file("g.bin", b"\x00" * 0x100)
    refused = board.run(
        "partition", "write-partition", "--partition-name", "ota_1", "--input", garbage, ok=False
    )
    assert "not a valid" in refused.stderr
    assert board.flash() == before
    board.run(
        "partition", "write-partition", "--partition-name", "ota_1", "--input", garbage, "--force"
    )
    assert board.flash(0x90000, 0x100) == b"\x00" * 0x100


def test_refusals_leave_the_flash_untouched(board: Board):
    before = board.flash()
    too_big = board.file("big.bin", b"\x01" * (0x4000 + 1))
    refused = board.run(
        "partition", "write-partition", "--partition-name", "nvs", "--input", too_big, ok=False
    )
    assert "only 0x4000" in refused.stderr and "nothing was written" in refused.stderr
    small = board.file("small.bin", b"\x01" * 16)
    readonly = board.run(
        "partition", "write-partition", "--partition-name", "locked", "--input", small, ok=False
    )
    assert "readonly" in readonly.stderr
    missing = board.run("partition", "erase-partition", "--partition-name", "nope", ok=False)
    assert "no partition named 'nope'" in missing.stderr
    assert board.flash() == before


def test_erase_partition_erases_only_it(board: Board):
    board.seed(0x9000, b"\x00" * 0x4000)
    before = board.flash()
    board.run("partition", "erase-partition", "--partition-name", "nvs")
    after = board.flash()
    assert after[0x9000:0xD000] == b"\xff" * 0x4000
    assert changed_ranges(before, after) == [(0x9000, 0xD000)]


def test_table_from_a_file_and_at_another_offset(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    board.install()
    moved = parse_csv(TABLE_CSV.replace("0x9000, 0x4000", "0xa000, 0x3000"), table_offset=0x9000)
    board.seed(0x8000, b"\xff" * 0x1000)
    board.seed(0x9000, moved.to_binary())
    assert board.output(
        "partition",
        "get-partition-info",
        "--partition-table-offset",
        "0x9000",
        "--partition-name",
        "nvs",
    ) == ["0xa000 0x3000"]
    csv = tmp_path / "table.csv"
    csv.write_text(TABLE_CSV)
    from_file = ("--partition-table-file", str(csv), "--partition-name", "nvs")
    assert board.output("partition", "get-partition-info", *from_file) == ["0x9000 0x4000"]
    blank = board.run("partition", "get-partition-info", "--partition-name", "nvs", ok=False)
    assert "blank, there is no partition table" in blank.stderr


def test_partition_table_with_no_input_reads_the_chip(tmp_path: Path):
    board = Board("esp32s3", tmp_path)
    board.install()
    listing = board.run("partition-table").stdout
    assert "Partition table at 0x8000 from the chip on" in listing
    assert "ota_1     app   ota_1    0x90000  0x40000 (256K)" in listing
    assert "0xe1000-0xfffff" in listing  # free space up to the detected 1MB
    moved = board.run("partition-table", "--partition-table-offset", "0x9000", ok=False)
    assert "the partition table at 0x9000: the flash there is blank" in moved.stderr
    no_port = CliRunner().invoke(build_cli(), ["partition-table"])
    assert no_port.exit_code == 2 and "--port" in no_port.stderr


def test_write_flash_checks_the_layout_first(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    table = board.file("table.bin", TABLE.to_binary())
    app = board.file("app.bin", app_image("esp32c3"))
    misplaced = board.run("write-flash", "0x8000", table, "0x4f000", app, ok=False)
    assert "ERROR: " in misplaced.stdout
    assert "must start at the beginning of app partition 'factory'" in misplaced.stdout
    assert "the layout check found 1 error(s)" in misplaced.stderr
    assert board.flash() == b"\xff" * MB
    board.run("write-flash", "--force", "0x8000", table, "0x4f000", app)
    assert board.flash(0x4F000, 16) == app_image("esp32c3")[:16]
    board.run("write-flash", "0x8000", table, "0x10000", app)
    assert board.flash(0x10000, len(app_image("esp32c3"))) == app_image("esp32c3")
