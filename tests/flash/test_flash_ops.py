"""Reading, verifying, erasing and memory operations, against a fake ROM client."""

from __future__ import annotations

import logging

import pytest

from espforge.errors import EspforgeError, NotSupportedError, SecureDownloadModeError
from espforge.flash import (
    Device,
    EventKind,
    Operation,
    chip_id,
    dump_mem,
    erase_flash,
    erase_region,
    mac_addresses,
    read_flash,
    verify_flash,
)
from espforge.flash.device import open_device
from espforge.image.flash_input import FlashInput
from espforge.protocol.connect import ConnectOptions
from flash_fake import FakeLoader, connect_to

MB = 0x100000


def device_for(chip: str = "esp32c3", flash_size: int = 4 * MB) -> Device:
    return Device(FakeLoader(chip, flash_size))


def test_read_flash_returns_the_bytes_and_reports_progress_per_kilobyte():
    device = device_for()
    data = bytes(range(256)) * 12
    device.loader.flash.program(0x1000, data)
    events = []
    device.progress.subscribe(events.append)
    assert read_flash(device, 0x1000, len(data)) == data
    assert [event.done for event in events] == [0, 1024, 2048, 3072, 3072]
    assert [event.kind for event in events][-1] is EventKind.FINISHED
    assert {event.operation for event in events} == {Operation.READ}


def test_reading_flash_on_esp8266_says_it_needs_the_stub():
    device = device_for("esp8266", MB)
    with pytest.raises(NotSupportedError, match="ESP8266 ROM cannot read flash.*stub"):
        read_flash(device, 0, 16)


def test_verify_flash_reports_matches_and_differences(caplog):
    device = device_for()
    device.loader.flash.program(0x0, b"abcd" * 4)
    caplog.set_level(logging.INFO, "espforge")
    good = FlashInput(0x0, b"abcd" * 4, "good.bin")
    bad = FlashInput(0x0, b"abcd" * 3 + b"abce", "bad.bin")
    assert verify_flash(device, [good]) == []
    mismatches = verify_flash(device, [good, bad], show_differences=True)
    assert [(m.source, m.differences) for m in mismatches] == [("bad.bin", ((0xF, 0x64, 0x65),))]
    assert "Verification successful (digest matched)." in caplog.messages
    assert (
        "Verifying 0x10 (16) bytes at 0x00000000 in flash against 'bad.bin'..." in caplog.messages
    )
    assert "Verification failed: 1 differences, first at 0x0000000f:" in caplog.messages
    assert "   0x0000000f 64 65" in caplog.messages


def test_verify_on_esp8266_is_refused_clearly():
    with pytest.raises(NotSupportedError, match="cannot verify"):
        verify_flash(device_for("esp8266", MB), [FlashInput(0, b"x" * 4)])


def test_erase_region_erases_exactly_the_sectors_asked_for():
    device = device_for()
    device.loader.flash.program(0x0, b"\0" * 0x4000)
    erase_region(device, 0x1000, 0x2000)
    flash = device.loader.flash
    assert flash.read(0x0, 0x1000) == b"\0" * 0x1000
    assert flash.read(0x1000, 0x2000) == b"\xff" * 0x2000
    assert flash.read(0x3000, 0x1000) == b"\0" * 0x1000
    assert device.loader.calls_named("flash_begin") == [("flash_begin", (0x2000, 0x1000))]


@pytest.mark.parametrize(
    ("address", "size", "message"),
    [
        (0x1001, 0x1000, "Offset to erase from must be a multiple of 4096"),
        (0x1000, 0x800, "Size of data to erase must be a multiple of 4096"),
        (0x3FF000, 0x2000, "goes past 4MB by 0x1000 bytes"),
    ],
)
def test_bad_erase_regions_are_refused_before_erasing(address, size, message):
    device = device_for()
    with pytest.raises(EspforgeError, match=message):
        erase_region(device, address, size)
    assert not device.loader.wrote_anything()


def test_erase_flash_erases_the_whole_detected_flash_through_flash_begin():
    device = device_for(flash_size=2 * MB)
    device.loader.flash.program(2 * MB - 16, b"\0" * 16)
    erase_flash(device)
    assert device.loader.flash.read(2 * MB - 16, 16) == b"\xff" * 16
    assert device.loader.calls_named("flash_begin") == [("flash_begin", (2 * MB, 0))]


def test_erase_refused_with_security_features_unless_forced():
    device = device_for("esp32s3")
    device.loader.security = device.loader.security.__class__(1, 0, (0,) * 7, 9, 0)
    with pytest.raises(EspforgeError, match="Active security features detected"):
        erase_region(device, 0, 0x1000)
    erase_region(device, 0, 0x1000, force=True)


def test_secure_download_mode_refuses_reading_the_flash_id():
    device = device_for()
    device.loader.secure_download_mode = True
    with pytest.raises(SecureDownloadModeError):
        device.flash_id()


def test_dump_mem_reads_words_little_endian():
    device = device_for()
    device.loader.registers.update({0x3FF00000: 0x04030201, 0x3FF00004: 0x08070605})
    assert dump_mem(device, 0x3FF00000, 8) == bytes(range(1, 9))


def test_mac_addresses_show_the_eui64_where_the_chip_has_one():
    assert mac_addresses(device_for("esp32c3")) == [("MAC", bytes.fromhex("aabbccddeeff"))]
    c6 = mac_addresses(device_for("esp32c6"))
    assert [label for label, _ in c6] == ["MAC", "BASE MAC", "MAC_EXT"]
    assert c6[0][1] == bytes.fromhex("aabbccfffeddeeff")


def test_only_the_esp8266_has_a_chip_id():
    esp8266 = device_for("esp8266", MB)
    esp8266.loader.registers.update({0x3FF00050: 0x12000000, 0x3FF00054: 0x00345678})
    assert chip_id(esp8266) == 0x34567812
    assert chip_id(device_for("esp32")) is None


def test_open_device_resets_after_success_and_closes(monkeypatch):
    loader = FakeLoader()
    connect_to(monkeypatch, lambda: loader)
    with open_device(ConnectOptions("fake://"), after="soft-reset") as device:
        assert device.loader is loader
    assert loader.calls[-2:] == [("run_reset", ("soft-reset",)), ("close", ())]


def test_open_device_closes_the_port_after_an_error(monkeypatch):
    loader = FakeLoader()
    connect_to(monkeypatch, lambda: loader)
    with (
        pytest.raises(EspforgeError, match="boom"),
        open_device(ConnectOptions("fake://"), after=None),
    ):
        raise EspforgeError("boom")
    assert loader.calls == [("close", ())]
