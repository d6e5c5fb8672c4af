"""Re-flashing only the regions whose flash MD5 differs (--skip-unchanged, the default for
files larger than one region), and verifying only what was rewritten."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.cli.main import build_cli
from espforge.flash import Device, WriteOptions, write_flash
from espforge.flash.changed import COARSE_REGION_SIZE, REGION_SIZE, compare_regions
from espforge.flash.write import WriteVerifyError
from espforge.image.flash_input import FlashInput
from flash_fake import FakeLoader

MB = 0x100000
APP = 0x10000  # where the tests put their file


def device_with(flash: bytes, chip: str = "esp32c3") -> Device:
    device = Device(FakeLoader(chip, 4 * MB))
    device.loader.flash.program(0, flash)
    return device


def md5_requests(device: Device) -> list[tuple[int, int]]:
    return [args for _, args in device.loader.calls_named("flash_md5")]


def one_byte_changed(seed: int, size: int = 0x60000, spot: int = 0x31234) -> tuple[bytes, bytes]:
    """An image, and the same image with one byte changed (in the region at 0x30000)."""
    image = random.Random(seed).randbytes(size)
    changed = bytearray(image)
    changed[spot] ^= 0x55
    return image, bytes(changed)


def test_only_the_differing_regions_are_sent_merged_where_they_touch() -> None:
    image = random.Random(1).randbytes(16 * REGION_SIZE + 100)
    flash = bytearray(image)
    for spot in (5, 3 * REGION_SIZE + 7, 4 * REGION_SIZE + 1, 16 * REGION_SIZE + 99):
        flash[spot] ^= 0xFF
    device = device_with(bytes(flash))
    comparison = compare_regions(device, 0, image)
    assert [(start, len(data)) for start, data in comparison.changed] == [
        (0, REGION_SIZE),
        (3 * REGION_SIZE, 2 * REGION_SIZE),  # two touching regions: one run
        (16 * REGION_SIZE, 100),  # the short last region
    ]
    assert comparison.skipped == len(image) - 3 * REGION_SIZE - 100
    assert "already in flash are skipped" in comparison.describe("app.bin")
    # 64 KB regions first; the fine ones only inside the two local changes (the short last
    # region is already known to differ).
    coarse = [
        (offset, COARSE_REGION_SIZE) for offset in range(0, 16 * REGION_SIZE, COARSE_REGION_SIZE)
    ]
    fine = [(offset, REGION_SIZE) for offset in range(0, 8 * REGION_SIZE, REGION_SIZE)]
    assert md5_requests(device) == [*coarse, (16 * REGION_SIZE, 100), *fine]


def test_a_wide_change_is_sent_whole_without_looking_into_it() -> None:
    image = random.Random(11).randbytes(8 * COARSE_REGION_SIZE)
    flash = bytearray(image)
    for spot in range(COARSE_REGION_SIZE + 9, 4 * COARSE_REGION_SIZE, COARSE_REGION_SIZE):
        flash[spot] ^= 1  # three coarse regions in a row differ: a new build, say
    device = device_with(bytes(flash))
    comparison = compare_regions(device, 0, image)
    assert [(start, len(data)) for start, data in comparison.changed] == [
        (COARSE_REGION_SIZE, 3 * COARSE_REGION_SIZE)
    ]
    assert md5_requests(device) == [
        (offset, COARSE_REGION_SIZE) for offset in range(0, len(image), COARSE_REGION_SIZE)
    ]


@pytest.mark.parametrize("options", [WriteOptions(skip_unchanged=True), WriteOptions()])
def test_only_the_change_is_sent_and_only_it_is_verified(options, caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image, changed = one_byte_changed(2)
    device = device_with(b"\xff" * APP + image)
    report = write_flash(device, [FlashInput(APP, changed, "app.bin")], options)
    (file,) = report.files
    assert [(t.address, t.size) for t in file.transfers] == [(APP + 0x30000, REGION_SIZE)]
    assert file.verified and "Hash of data verified." in caplog.text
    assert device.loader.flash.read(APP, len(image)) == changed
    assert "'app.bin': 376832 of 393216 bytes already in flash are skipped" in caplog.text
    # One MD5 per 64 KB region, one per 16 KB region of the one that differs, then one for the
    # rewritten run: none over the whole file.
    coarse = [(APP + offset, COARSE_REGION_SIZE) for offset in range(0, len(image), 0x10000)]
    fine = [(APP + 0x30000 + offset, REGION_SIZE) for offset in range(0, 0x10000, REGION_SIZE)]
    assert md5_requests(device) == [*coarse, *fine, (APP + 0x30000, REGION_SIZE)]


def test_each_rewritten_run_gets_its_own_md5() -> None:
    image = random.Random(4).randbytes(0x60000)
    changed = bytearray(image)
    for spot in (0x100, 0x44444, 0x5FFFF):  # the first, a middle and the last region
        changed[spot] ^= 1
    device = device_with(b"\xff" * APP + image)
    write_flash(device, [FlashInput(APP, bytes(changed), "app.bin")])
    runs = [(APP, REGION_SIZE), (APP + 0x44000, REGION_SIZE), (APP + 0x5C000, REGION_SIZE)]
    assert md5_requests(device)[-3:] == runs
    assert device.loader.flash.read(APP, len(image)) == changed


def test_a_rewritten_run_that_stays_corrupt_fails_the_write(caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image, changed = one_byte_changed(5)
    device = device_with(b"\xff" * APP + image)
    device.loader.corrupt_writes = True  # every block programmed with one bit cleared
    with pytest.raises(WriteVerifyError, match=r"MD5 of file does not match data in flash"):
        write_flash(device, [FlashInput(APP, changed, "app.bin")])
    assert "Reflashing the whole image" in caplog.text
    assert "Hash of data verified." not in caplog.text


def test_a_run_corrupted_once_is_caught_and_the_whole_file_rewritten(caplog, monkeypatch) -> None:
    caplog.set_level("INFO", logger="espforge")
    image, changed = one_byte_changed(6)
    device = device_with(b"\xff" * APP + image)
    loader = device.loader
    program = loader._program

    def corrupt_the_first_block_only(offset: int, data: bytes) -> None:
        program(offset, data)
        loader.corrupt_writes = False

    loader.corrupt_writes = True
    monkeypatch.setattr(loader, "_program", corrupt_the_first_block_only)
    report = write_flash(device, [FlashInput(APP, changed, "app.bin")])
    assert "Reflashing the whole image" in caplog.text and report.files[0].verified
    # After the whole file is rewritten, the whole file is what the MD5 proves.
    assert md5_requests(device)[-2:] == [(APP + 0x30000, REGION_SIZE), (APP, len(image))]
    assert loader.flash.read(APP, len(image)) == changed


@pytest.mark.parametrize(
    "options",
    [
        WriteOptions(skip_unchanged=False),
        WriteOptions(erase_all=True),
        WriteOptions(skip_flashed=True),
        WriteOptions(diff_with=[None]),
    ],
    ids=["turned off", "erase-all", "skip-flashed", "diff-with"],
)
def test_no_region_comparison_when_off_or_with_another_shortcut(options, caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image, changed = one_byte_changed(7)
    device = device_with(b"\xff" * APP + image)
    report = write_flash(device, [FlashInput(APP, changed, "app.bin")], options)
    assert [(t.address, t.size) for t in report.files[0].transfers] == [(APP, len(image))]
    assert md5_requests(device)[-1] == (APP, len(image))  # the whole file is verified
    assert "already in flash are skipped" not in caplog.text
    assert "Skipping unchanged regions is not supported" not in caplog.text


def test_by_default_a_file_of_one_region_is_written_whole() -> None:
    image, changed = one_byte_changed(8, size=REGION_SIZE, spot=5)
    device = device_with(b"\xff" * APP + image)
    write_flash(device, [FlashInput(APP, changed, "small.bin")])
    assert md5_requests(device) == [(APP, REGION_SIZE)]  # the verification only
    explicit = device_with(b"\xff" * APP + image)
    write_flash(
        explicit, [FlashInput(APP, changed, "small.bin")], WriteOptions(skip_unchanged=True)
    )
    assert md5_requests(explicit) == [(APP, REGION_SIZE)] * 2  # compared, then verified


def test_a_rom_without_md5_writes_whole_files_and_says_why_only_when_asked(caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image = random.Random(9).randbytes(0x20000)
    write_flash(device_with(b"", "esp8266"), [FlashInput(APP, image, "app.bin")])
    assert "Skipping unchanged regions" not in caplog.text
    write_flash(
        device_with(b"", "esp8266"),
        [FlashInput(APP, image, "app.bin")],
        WriteOptions(skip_unchanged=True),
    )
    assert "Skipping unchanged regions is not supported with ESP8266" in caplog.text


def test_an_unchanged_file_is_skipped_entirely(caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image = random.Random(3).randbytes(0x8000)
    device = device_with(b"\xff" * 0x10000 + image)
    report = write_flash(device, [FlashInput(0x10000, image, "same.bin")])
    assert report.files[0].skipped and not device.loader.wrote_anything()


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 5 * COARSE_REGION_SIZE),
    st.integers(0, 2**32),
    st.lists(st.integers(0, 5 * COARSE_REGION_SIZE - 1), max_size=8),
)
def test_writing_the_changed_runs_makes_flash_equal_the_image(size: int, seed: int, spots) -> None:
    image = random.Random(seed).randbytes(size)
    flash = bytearray(image)
    for spot in spots:
        if spot < len(flash):
            flash[spot] ^= 0x01
    device = device_with(bytes(flash))
    comparison = compare_regions(device, 0, image)
    for start, data in comparison.changed:
        assert start % 0x1000 == 0
        device.loader.flash.erase(start, len(data))
        device.loader.flash.program(start, data)
    assert device.loader.flash.read(0, len(image)) == image
    assert comparison.skipped >= len(image) - len(spots) * COARSE_REGION_SIZE


# ------------------------------------------------------------------ write-flash on the virtual chip


def write_flash_command(tmp_path: Path, *args: str) -> list[tuple[int, int]]:
    """Run write-flash on a virtual ESP32-C3 (ROM mode, which has MD5) and return the MD5
    requests the chip logged, as (address, size)."""
    log_file = tmp_path / "log.jsonl"
    log_file.unlink(missing_ok=True)
    port = f"virtual://esp32c3?flash={tmp_path / 'flash.bin'}&log={log_file}"
    result = CliRunner().invoke(
        build_cli(), ["--port", port, "--before", "no-reset", "write-flash", *args]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Hash of data verified." in result.output
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    return [
        struct.unpack_from("<II", bytes.fromhex(record["data"]))
        for record in records
        if record["op"] == "SPI_FLASH_MD5"
    ]


def test_write_flash_compares_by_default_and_checks_only_the_rewritten_run(tmp_path) -> None:
    image, changed = one_byte_changed(10)
    app = tmp_path / "app.bin"
    app.write_bytes(image)
    write_flash_command(tmp_path, hex(APP), str(app))
    app.write_bytes(changed)
    requests = write_flash_command(tmp_path, hex(APP), str(app))
    regions = len(image) // COARSE_REGION_SIZE + COARSE_REGION_SIZE // REGION_SIZE
    assert len(requests) == regions + 1 and (APP, len(image)) not in requests
    assert requests[-1] == (APP + 0x30000, REGION_SIZE)
    app.write_bytes(image)
    assert write_flash_command(tmp_path, "--no-skip-unchanged", hex(APP), str(app)) == [
        (APP, len(image))
    ]


def test_skip_unchanged_and_its_negation_exclude_each_other(tmp_path) -> None:
    app = tmp_path / "app.bin"
    app.write_bytes(b"\0" * 16)
    result = CliRunner().invoke(
        build_cli(), ["write-flash", "--skip-unchanged", "--no-skip-unchanged", "0", str(app)]
    )
    assert result.exit_code != 0
    assert "--no-skip-unchanged" in result.output


def test_data_that_does_not_compress_is_sent_as_it_is_and_said_so(caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image = random.Random(12).randbytes(0x3000)  # one region: written whole
    device = device_with(b"")
    write_flash(device, [FlashInput(APP, image, "noise.bin")])
    assert "Note: Cannot compress file 'noise.bin' more than the original size" in caplog.text
    assert device.loader.flash.read(APP, len(image)) == image
    assert not device.loader.calls_named("flash_defl_begin")
