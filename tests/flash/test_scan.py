"""`espforge scan` against the virtual chip: what a board holds, as text and as JSON, and what
it says instead of failing when something cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boards import CHIPS, Board, app_image, record, sector
from espforge.flash.scan import image_extent


def scan(board: Board) -> dict:
    return json.loads("\n".join(board.output("scan", "--json")))


@pytest.mark.parametrize("chip", CHIPS)
def test_json_describes_the_board(chip: str, tmp_path: Path):
    board = Board(chip, tmp_path)
    board.install(apps={"factory": app_image(chip), "ota_1": app_image(chip, "hello", "3.0")})
    report = scan(board)
    assert {
        "chip",
        "mac",
        "flash_size",
        "bootloader",
        "partitions",
        "otadata",
        "boot_partition",
    } <= set(report)
    assert report["chip"] == board.run("flash-id").stdout.split("Connected to ")[1].split(" on ")[0]
    assert report["flash_size"] == "1MB"
    assert report["bootloader"]["version"] == 7
    assert report["bootloader"]["idf_version"] == "v5.3" and report["bootloader"]["valid"]
    names = [entry["name"] for entry in report["partitions"]]
    assert names == ["nvs", "otadata", "phy_init", "factory", "ota_0", "ota_1", "storage", "locked"]
    factory = report["partitions"][3]
    assert factory | {"app": None} == {
        "name": "factory",
        "type": "app",
        "subtype": "factory",
        "offset": 0x10000,
        "size": 0x40000,
        "flags": [],
        "app": None,
    }
    app = factory["app"]
    assert (app["project_name"], app["version"], app["idf_version"], app["valid"]) == (
        "hello",
        "1.0",
        "v5.3",
        True,
    )
    assert app["compile_date"] == "Nov 25 2026" and app["compile_time"] == "12:34:56"
    assert len(app["elf_sha256"]) == 64 and app["elf_sha256"] != "0" * 64
    assert report["partitions"][4]["app"]["valid"] is False  # ota_0 is blank
    assert report["partitions"][0]["app"] is None  # not an app partition
    assert report["partitions"][7]["flags"] == ["readonly"]
    assert report["boot_partition"] == "factory"
    assert [r["sequence"] for r in report["otadata"]["records"]] == [0xFFFFFFFF] * 2

    board.seed(0xD000, sector(record(2)))  # slot 1
    report = scan(board)
    assert report["otadata"]["slot"] == 1 and report["otadata"]["records"][0]["crc_valid"]
    assert report["boot_partition"] == "ota_1"
    assert report["partitions"][5]["app"]["version"] == "3.0"


def test_blank_flash_is_reported_not_fatal(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    report = scan(board)
    assert report["bootloader"] is None and report["partitions"] == []
    assert report["boot_partition"] is None and report["otadata"] is None
    assert any("blank, there is no partition table" in p for p in report["problems"])
    text = board.run("scan").stdout
    assert "Bootloader:      none found" in text and "Boots:           nothing" in text


def test_text_report(tmp_path: Path):
    board = Board("esp32", tmp_path)
    board.install()
    text = board.run("scan").stdout
    assert "Chip:            ESP32" in text
    assert "MAC:             " in text and "Flash:           1MB" in text
    assert "Bootloader:      at 0x1000" in text and "version 7, IDF v5.3" in text
    assert "  factory          app   factory   0x00010000 0x00040000  hello 1.0 (IDF v5.3" in text
    assert "  locked           data  nvs       0x000e0000 0x00001000 [readonly]" in text
    assert "Boots:           factory" in text


def test_a_corrupt_app_is_not_booted(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    corrupt = bytearray(app_image("esp32c3"))
    corrupt[0x30] ^= 0xFF
    board.install(apps={"factory": bytes(corrupt), "ota_0": app_image("esp32c3", "b", "2")})
    report = scan(board)
    factory = report["partitions"][3]["app"]
    assert factory["valid"] is False and "corrupt" in factory["problem"]
    assert report["boot_partition"] == "ota_0"


@pytest.mark.parametrize("chip", CHIPS)
def test_image_extent_walks_the_segment_headers(chip: str):
    image = app_image(chip) + b"\xff" * 0x100  # flash after the image is erased

    def read(offset: int, size: int) -> bytes:
        return image[offset : offset + size]

    length = len(app_image(chip))
    assert image_extent(read, 0, len(image)) == length
    assert image_extent(read, 0, length - 1) is None  # it would not fit its partition
    assert image_extent(lambda offset, size: b"\xff" * size, 0, 0x1000) is None


def test_a_rom_that_cannot_read_flash_still_answers(tmp_path: Path):
    report = scan(Board("esp8266", tmp_path))
    assert report["chip"] == "ESP8266" and report["bootloader"] is None
    assert report["partitions"] == [] and report["boot_partition"] is None
    assert report["problems"] == ["the ESP8266 ROM cannot read flash: nothing more to show"]
