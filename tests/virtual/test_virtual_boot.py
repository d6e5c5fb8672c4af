"""The virtual chip's second-stage bootloader: table, OTA data, image checks and fallback, and
what it prints on a reset into normal boot."""

from __future__ import annotations

from pathlib import Path

from boards import Board, app_image, record, sector
from espforge.chips import get_chip
from espforge.image.partition_table import parse_csv
from espforge.virtual.boot import image_problem, second_stage_boot
from espforge.virtual.chip import ChipOptions, VirtualChip

C3 = get_chip("esp32c3")


def boot(board: Board) -> tuple[str | None, str]:
    chip = VirtualChip.create(board.chip, "1MB", str(board.flash_file))
    try:
        assert chip.last_boot is None  # it started in download mode
        chip.read()
        chip.reset(download=False)
        partition = chip.last_boot.partition if chip.last_boot else None
        return (partition.name if partition else None), chip.read().decode()
    finally:
        chip.close()


def test_blank_flash_runs_no_second_stage(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    chip = VirtualChip.create(
        "esp32c3", "1MB", str(board.flash_file), ChipOptions(start_in_app=True)
    )
    assert chip.last_boot is None
    assert "invalid header: 0xffffffff" in chip.read().decode()
    chip.close()


def test_the_table_is_printed_and_the_factory_app_loaded(tmp_path: Path):
    board = Board("esp32c3", tmp_path)
    board.install()
    name, output = boot(board)
    assert name == "factory"
    lines = [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("I (")]
    assert lines[:2] == ["ESP-IDF v5.3 2nd stage bootloader", "compile time Nov 25 2026 12:00:00"]
    assert lines[2:6] == [
        "Partition Table:",
        "## Label            Usage          Type ST Offset   Length",
        " 0 nvs              WiFi data        01 02 00009000 00004000",
        " 1 otadata          OTA data         01 00 0000d000 00002000",
    ]
    assert " 5 ota_1            OTA app          00 11 00090000 00040000" in lines
    assert lines[-1] == "Loaded app from partition at offset 0x10000"


def test_no_table_means_no_boot(tmp_path: Path):
    board = Board("esp32", tmp_path)
    board.install(apps={}, table=b"\xff" * 0x1000)
    name, output = boot(board)
    assert name is None
    assert "E (" in output and "flash_parts: partition 0 invalid magic number 0xffff" in output
    assert output.rstrip().endswith("boot: Failed to verify partition table")


def test_otadata_picks_the_slot_and_bad_images_are_skipped(tmp_path: Path):
    board = Board("esp32s3", tmp_path)
    board.install(apps={"factory": app_image("esp32s3"), "ota_0": app_image("esp32s3", "x", "2")})
    board.seed(0xD000, sector(record(2)))  # slot 1, which is blank
    name, output = boot(board)
    assert name == "ota_0"
    assert "image at 0x90000 has invalid magic byte" in output
    assert "OTA app partition 'ota_1' is not bootable" in output
    corrupt = bytearray(app_image("esp32s3", "x", "2"))
    corrupt[0x40] ^= 0xFF
    board.seed(0x50000, bytes(corrupt))
    assert boot(board)[0] == "factory"
    board.seed(0x10000, app_image("esp32c3"))  # another chip's app
    name, output = boot(board)
    assert name is None
    assert "has mismatch chip ID, expected 9, found 5" in output
    assert output.rstrip().endswith("No bootable app partitions in the partition table")


def test_image_problems_in_the_loaders_words():
    good = app_image("esp32c3")
    assert image_problem(C3, good) is None
    bad_checksum = bytearray(good)
    bad_checksum[-33] ^= 0x01  # the checksum byte, before the appended SHA-256
    assert image_problem(C3, bytes(bad_checksum)).startswith("failed its checksum")
    bad_hash = bytearray(good)
    bad_hash[-1] ^= 0x01
    assert image_problem(C3, bytes(bad_hash)) == "failed its hash check: image is corrupt"
    assert image_problem(C3, b"\xe9\x01").startswith("is not a valid image")


def test_without_otadata_partition_the_first_app_boots():
    table = parse_csv("nvs, data, nvs, , 0x4000\nota_0, app, ota_0, 0x10000, 0x40000\n")
    flash = bytearray(b"\xff" * 0x100000)
    flash[0x8000 : 0x8000 + 0xC00] = table.to_binary()
    image = app_image("esp32c3")
    flash[0x10000 : 0x10000 + len(image)] = image
    outcome = second_stage_boot(C3, lambda offset, size: bytes(flash[offset : offset + size]))
    assert outcome.partition == table.get("ota_0")
    assert outcome.text.endswith("Loaded app from partition at offset 0x10000\r\n")
