"""Re-flashing only the regions whose flash MD5 differs (--skip-unchanged)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.flash import Device, FlashInput, WriteOptions, write_flash
from espforge.flash.changed import REGION_SIZE, compare_regions
from flash_fake import FakeLoader

MB = 0x100000


def device_with(flash: bytes) -> Device:
    device = Device(FakeLoader("esp32c3", 4 * MB))
    device.loader.flash.program(0, flash)
    return device


def test_only_the_differing_regions_are_sent_merged_where_they_touch() -> None:
    image = random.Random(1).randbytes(10 * REGION_SIZE + 100)
    flash = bytearray(image)
    for spot in (5, 3 * REGION_SIZE + 7, 4 * REGION_SIZE + 1, 10 * REGION_SIZE + 99):
        flash[spot] ^= 0xFF
    comparison = compare_regions(device_with(bytes(flash)), 0, image)
    assert [(start, len(data)) for start, data in comparison.changed] == [
        (0, REGION_SIZE),
        (3 * REGION_SIZE, 2 * REGION_SIZE),  # two touching regions: one run
        (10 * REGION_SIZE, 100),  # the short last region
    ]
    assert comparison.skipped == len(image) - 3 * REGION_SIZE - 100
    assert "already in flash are skipped" in comparison.describe("app.bin")


def test_write_with_skip_unchanged_sends_only_the_change_and_verifies(caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image = random.Random(2).randbytes(0x60000)
    changed = bytearray(image)
    changed[0x31234] ^= 0x55
    device = device_with(b"\xff" * 0x10000 + image)
    report = write_flash(
        device, [FlashInput(0x10000, bytes(changed), "app.bin")], WriteOptions(skip_unchanged=True)
    )
    (file,) = report.files
    assert [(t.address, t.size) for t in file.transfers] == [(0x10000 + 0x30000, REGION_SIZE)]
    assert file.verified
    assert device.loader.flash.read(0x10000, len(image)) == bytes(changed)
    assert "'app.bin': 376832 of 393216 bytes already in flash are skipped" in caplog.text


def test_an_unchanged_file_is_skipped_entirely(caplog) -> None:
    caplog.set_level("INFO", logger="espforge")
    image = random.Random(3).randbytes(0x8000)
    device = device_with(b"\xff" * 0x10000 + image)
    report = write_flash(
        device, [FlashInput(0x10000, image, "same.bin")], WriteOptions(skip_unchanged=True)
    )
    assert report.files[0].skipped and not device.loader.wrote_anything()


@settings(max_examples=30, deadline=None)
@given(
    st.binary(min_size=1, max_size=3 * REGION_SIZE),
    st.lists(st.integers(0, 3 * REGION_SIZE - 1), max_size=6),
)
def test_writing_the_changed_runs_makes_flash_equal_the_image(image: bytes, spots) -> None:
    flash = bytearray(image)
    for spot in spots:
        if spot < len(flash):
            flash[spot] ^= 0x01
    device = device_with(bytes(flash))
    for start, data in compare_regions(device, 0, image).changed:
        assert start % 0x1000 == 0
        device.loader.flash.erase(start, len(data))
        device.loader.flash.program(start, data)
    assert device.loader.flash.read(0, len(image)) == image
