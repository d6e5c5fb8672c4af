"""Planning and carrying out writes, against a fake ROM client over a NOR flash model."""

from __future__ import annotations

import hashlib
import logging
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.chips import get_chip
from espforge.demo import demo_app_elf, demo_bootloader_elf
from espforge.errors import NotSupportedError, ProtocolError
from espforge.flash import (
    Device,
    DeviceIdentity,
    EventKind,
    FlashInputError,
    Operation,
    StepKind,
    WriteOptions,
    WriteVerifyError,
    check_inputs,
    execute_plan,
    plan_write,
    write_flash,
)
from espforge.flash.plan import FileWrite
from espforge.flash.planner import FilePlanner, changed_sector_runs
from espforge.flash.write_checks import ChipState
from espforge.image.elf2image import Elf2ImageOptions, build_images
from espforge.image.firmware import load_image
from espforge.image.flash_input import FlashInput
from flash_fake import FakeLoader, jedec_id

MB = 0x100000


def random_bytes(size: int, seed: int = 1) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def compressible(size: int) -> bytes:
    return (b"espforge flash test " * (size // 20 + 1))[:size]


def device_for(chip: str = "esp32c3", flash_size: int = 4 * MB, **kwargs) -> Device:
    return Device(FakeLoader(chip, flash_size, **kwargs))


@pytest.fixture(scope="module")
def c3_bootloader() -> bytes:
    chip = get_chip("esp32c3")
    options = Elf2ImageOptions(flash_mode="dio", flash_freq="80m", flash_size="2MB")
    return build_images(demo_bootloader_elf(), chip, options)[0][1]


@pytest.fixture(scope="module")
def c3_app() -> bytes:
    options = Elf2ImageOptions(flash_mode="dio", flash_freq="80m", flash_size="2MB")
    return build_images(demo_app_elf(), get_chip("esp32c3"), options)[0][1]


# ------------------------------------------------------------------ the data lands


@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "uncompressed"])
def test_files_land_byte_exact(compress):
    device = device_for()
    first, second = compressible(70_000), compressible(5000)[::-1]
    inputs = [FlashInput(0x10000, first, "a.bin"), FlashInput(0x30000, second, "b.bin")]
    report = write_flash(device, inputs, WriteOptions(compress=compress))
    flash = device.loader.flash
    assert flash.read(0x10000, len(first)) == first
    assert flash.read(0x30000, len(second)) == second
    assert flash.read(0x30000 + len(second), 16) == b"\xff" * 16
    assert [file.verified for file in report.files] == [True, True]
    data_commands = {
        name for name, _ in device.loader.calls_named("flash_block", "flash_defl_block")
    }
    assert data_commands == {"flash_defl_block" if compress else "flash_block"}


def test_compression_is_the_default_where_the_rom_takes_it():
    device = device_for("esp32")
    write_flash(device, [FlashInput(0x1000, compressible(8192))])
    begin = device.loader.calls_named("flash_defl_begin")
    assert begin == [
        ("flash_defl_begin", (8192, len(zlib.compress(compressible(8192), 9)), 0x1000))
    ]


def test_esp8266_writes_uncompressed_and_says_it_cannot_verify(caplog):
    device = device_for("esp8266", 1 * MB)
    caplog.set_level(logging.INFO, "espforge")
    report = write_flash(device, [FlashInput(0x0, compressible(4096), "fw.bin")])
    assert device.loader.flash.read(0, 4096) == compressible(4096)
    assert report.files[0].verified is None
    assert "Hash of data verified." not in caplog.text
    assert "cannot compute a flash MD5" in caplog.text
    with pytest.raises(NotSupportedError, match="compressed"):
        plan_write(device, check_inputs([FlashInput(0x0, b"x" * 16)]), WriteOptions(compress=True))


def test_unaligned_address_is_written_from_its_sector_start(caplog):
    """A ROM erases whole sectors from FLASH_BEGIN's offset: esptool pads with 0xFF before."""
    device = device_for()
    device.loader.flash.program(0x2000, b"\x00" * 0x1000)
    caplog.set_level(logging.INFO, "espforge")
    data = random_bytes(100)
    write_flash(device, [FlashInput(0x2100, data, "odd.bin")])
    assert device.loader.flash.read(0x2100, 100) == data
    assert device.loader.flash.read(0x2000, 0x100) == b"\xff" * 0x100
    assert device.loader.calls_named("flash_defl_begin")[0][1][2] == 0x2000
    assert "Flash address 0x00002100 is not aligned to a 0x1000 byte flash sector." in caplog.text
    assert "Wrote 356 bytes" in caplog.text and "at 0x00002100" in caplog.text


def test_summary_lines_as_esptool_prints_them(caplog):
    device = device_for()
    caplog.set_level(logging.INFO, "espforge")
    data = compressible(0x3000)
    write_flash(device, [FlashInput(0x8000, data, "p.bin")])
    packed = len(zlib.compress(data, 9))
    lines = caplog.messages
    assert any(
        line.startswith(f"Wrote {len(data)} bytes ({packed} compressed) at 0x00008000 in ")
        and line.endswith(" kbit/s).")
        for line in lines
    )
    assert "Flash will be erased from 0x00008000 to 0x0000afff..." in lines
    assert f"Compressed {len(data)} bytes to {packed}..." in lines
    assert lines[-2:] == ["Verifying written data...", "Hash of data verified."]


# ------------------------------------------------------------------ refused before writing


def test_overlapping_inputs_are_refused_before_anything_is_sent():
    device = device_for()
    inputs = [FlashInput(0x1000, b"a" * 0x800, "a.bin"), FlashInput(0x1800, b"b" * 16, "b.bin")]
    with pytest.raises(FlashInputError, match="b.bin.*overlaps.*a.bin"):
        write_flash(device, inputs)
    assert device.loader.calls == []


def test_files_sharing_no_sector_are_accepted_whatever_their_order():
    device = device_for()
    write_flash(device, [FlashInput(0x2000, b"b" * 4), FlashInput(0x1000, b"a" * 0x1000)])
    assert device.loader.flash.read(0x1000, 0x1004) == b"a" * 0x1000 + b"b" * 4


def test_data_past_the_detected_flash_end_is_refused_before_any_write():
    device = device_for(flash_size=2 * MB)
    with pytest.raises(FlashInputError, match="will not fit.*detected flash size 2MB"):
        write_flash(device, [FlashInput(2 * MB - 0x1000, b"x" * 0x1001, "big.bin")])
    assert not device.loader.wrote_anything()


def test_data_past_an_explicit_smaller_flash_size_is_refused():
    device = device_for(flash_size=4 * MB)
    options = WriteOptions(flash_size="1MB")
    with pytest.raises(FlashInputError, match="flash size 1MB"):
        write_flash(device, [FlashInput(MB, b"x" * 4)], options)
    assert not device.loader.wrote_anything()


def test_nothing_beyond_16mb_even_when_the_flash_id_says_nothing():
    device = device_for()
    device.loader.flash_id_value = 0xFFFFFF  # no size in the id
    with pytest.raises(FlashInputError, match="16MB"):
        write_flash(device, [FlashInput(0x1000000 - 4, b"x" * 8)])
    assert not device.loader.wrote_anything()


def test_an_image_for_another_chip_is_refused_as_bootloader_unless_forced(c3_bootloader):
    device = device_for("esp32s3")
    with pytest.raises(FlashInputError, match="not an ESP32-S3 image. Use --force"):
        write_flash(device, [FlashInput(0x0, c3_bootloader, "boot.bin")])
    assert not device.loader.wrote_anything()
    write_flash(device, [FlashInput(0x0, c3_bootloader, "boot.bin")], WriteOptions(force=True))
    assert device.loader.flash.read(0, 4)[:1] == b"\xe9"


# ------------------------------------------------------------------ flash settings


def test_detect_writes_the_detected_size_into_the_bootloader(c3_bootloader):
    device = device_for(flash_size=8 * MB)
    options = WriteOptions(flash_mode="qio", flash_size="detect")
    write_flash(device, [FlashInput(0x0, c3_bootloader, "boot.bin")], options)
    written = device.loader.flash.read(0, len(c3_bootloader))
    assert written[2] == 0  # qio
    assert written[3] == 0x30 | (c3_bootloader[3] & 0x0F)  # 8MB, frequency kept
    image = load_image(written, get_chip("esp32c3"))
    assert image.sha256_valid and device.loader.configured_size == 8 * MB


def test_keep_leaves_the_bootloader_alone_and_configures_the_detected_size(c3_bootloader):
    device = device_for(flash_size=4 * MB)
    write_flash(device, [FlashInput(0x0, c3_bootloader, "boot.bin")])
    assert device.loader.flash.read(0, len(c3_bootloader)) == c3_bootloader
    assert device.loader.configured_size == 4 * MB


def test_settings_are_only_rewritten_at_the_bootloader_offset(c3_app):
    device = device_for()
    write_flash(device, [FlashInput(0x10000, c3_app)], WriteOptions(flash_mode="qio"))
    assert device.loader.flash.read(0x10000, len(c3_app)) == c3_app


# ------------------------------------------------------------------ skip, diff, plan


def test_skip_flashed_skips_what_is_already_there(caplog):
    device = device_for()
    same, changed = compressible(0x2000), random_bytes(0x1000)
    write_flash(device, [FlashInput(0x0, same, "same.bin"), FlashInput(0x4000, b"\0" * 0x1000)])
    device.loader.calls.clear()
    caplog.set_level(logging.INFO, "espforge")
    options = WriteOptions(skip_flashed=True)
    inputs = [FlashInput(0x0, same, "same.bin"), FlashInput(0x4000, changed, "new.bin")]
    report = write_flash(device, inputs, options)
    assert "'same.bin' at 0x00000000 already in flash, skipping write." in caplog.text
    assert report.files[0].skipped and report.files[1].verified
    assert [
        args[-1] for _, args in device.loader.calls_named("flash_begin", "flash_defl_begin")
    ] == [0x4000]


def test_diff_with_rewrites_only_the_changed_sectors():
    device = device_for()
    old = random_bytes(0x5000, seed=3)
    write_flash(device, [FlashInput(0x10000, old)])
    new = bytearray(old)
    new[0x1234] ^= 0xFF
    new[0x3FFF] ^= 0xFF
    new[0x4000] ^= 0xFF
    device.loader.calls.clear()
    inputs = check_inputs([FlashInput(0x10000, bytes(new))])
    plan = plan_write(device, inputs, WriteOptions(diff_with=[old]))
    programmed = [(s.address, s.size) for s in plan.steps() if s.kind is StepKind.PROGRAM]
    assert programmed == [(0x11000, 0x1000), (0x13000, 0x2000)]
    execute_plan(device, plan)
    assert device.loader.flash.read(0x10000, len(new)) == bytes(new)


def test_diff_with_falls_back_to_the_whole_file_when_flash_held_something_else(caplog):
    device = device_for()
    old, new = random_bytes(0x3000, seed=4), random_bytes(0x3000, seed=4)[:-1] + b"\0"
    device.loader.flash.program(0x0, b"\0" * 0x3000)  # not `old`: someone changed the flash
    caplog.set_level(logging.INFO, "espforge")
    report = write_flash(device, [FlashInput(0x0, new)], WriteOptions(diff_with=[old]))
    assert device.loader.flash.read(0x0, len(new)) == new
    assert "Reflashing the whole image" in caplog.text
    assert report.files[0].verified


def test_unchanged_file_with_trust_is_neither_written_nor_checked():
    device = device_for()
    data = random_bytes(0x1000)
    options = WriteOptions(diff_with=[data], trust_flash_content=True)
    write_flash(device, [FlashInput(0x0, data)], options)
    assert device.loader.calls_named("flash_md5", "flash_begin", "flash_defl_begin") == []


def test_dry_run_plan_describes_every_step_and_writes_nothing():
    device = device_for()
    inputs = [FlashInput(0x1000, compressible(0x1800), "boot.bin"), FlashInput(0x8000, b"")]
    plan = plan_write(device, check_inputs(inputs), WriteOptions(erase_all=True))
    assert not device.loader.wrote_anything()
    kinds = [step.kind for step in plan.steps()]
    assert kinds == [
        StepKind.ERASE_ALL,
        StepKind.ERASE,
        StepKind.PROGRAM,
        StepKind.VERIFY,
        StepKind.SKIP,
    ]
    text = plan.describe()
    assert text.splitlines()[0] == "Write plan for ESP32-C3, flash size 4MB:" or "ESP32-C3" in text
    assert "erase     0x00001000-0x00002fff  boot.bin" in text
    assert "skip" in text and "is empty" in text


def test_erase_all_erases_everything_before_writing():
    device = device_for(flash_size=1 * MB)
    device.loader.flash.program(0x80000, b"\0" * 16)
    write_flash(device, [FlashInput(0x0, b"a" * 16)], WriteOptions(erase_all=True))
    assert device.loader.flash.read(0x80000, 16) == b"\xff" * 16
    assert device.loader.calls_named("flash_begin")[0][1] == (1 * MB, 0)


# ------------------------------------------------------------------ failures


def test_a_lost_block_is_retried_once_then_the_write_succeeds(caplog):
    device = device_for()
    device.attach_flash()
    device.loader.link_failures = 1
    caplog.set_level(logging.INFO, "espforge")
    data = random_bytes(0x2000)
    report = write_flash(device, [FlashInput(0x0, data)], WriteOptions(compress=False))
    assert device.loader.flash.read(0, len(data)) == data
    assert "\nLost connection, retrying..." in caplog.messages and report.files[0].verified
    resent = device.loader.calls_named("flash_begin", "resync", "spi_attach", "spi_set_params")
    assert [name for name, _ in resent[-4:]] == [
        "resync",
        "spi_attach",
        "spi_set_params",
        "flash_begin",
    ]


def test_a_link_failing_twice_fails_the_write_without_a_success_message(caplog):
    device = device_for()
    device.loader.link_failures = 2
    caplog.set_level(logging.INFO, "espforge")
    with pytest.raises(ProtocolError):
        write_flash(device, [FlashInput(0x0, random_bytes(0x2000))])
    assert "Hash of data verified." not in caplog.text


def test_wrong_flash_content_is_an_error_never_a_success(caplog):
    device = device_for()
    device.loader.corrupt_writes = True
    caplog.set_level(logging.INFO, "espforge")
    data = b"\xff" + random_bytes(0x1000)
    with pytest.raises(WriteVerifyError, match="MD5 of file does not match"):
        write_flash(device, [FlashInput(0x0, data, "fw.bin")])
    assert "Hash of data verified." not in caplog.text
    padded = data + b"\xff" * 3  # written in whole words
    assert f"Input MD5: {hashlib.md5(padded).hexdigest()}" in caplog.text


# ------------------------------------------------------------------ progress


def test_progress_events_count_up_to_the_total():
    device = device_for()
    events = []
    unsubscribe = device.progress.subscribe(events.append)
    data = random_bytes(0x2800)
    write_flash(device, [FlashInput(0x0, data)], WriteOptions(compress=False))
    unsubscribe()
    writes = [event for event in events if event.operation is Operation.WRITE]
    assert [event.done for event in writes] == [0, 0x400, 0x800, 0xC00, 0x1000, 0x1400] + [
        0x1800,
        0x1C00,
        0x2000,
        0x2400,
        0x2800,
        0x2800,
    ]
    assert writes[-1].kind is EventKind.FINISHED and writes[-1].total == 0x2800
    assert {event.device for event in events} == {DeviceIdentity("fake://esp32c3", "ESP32-C3")}
    assert writes[-1].description == "Writing at 0x00002800"
    write_flash(device, [FlashInput(0x0, data)])
    assert len([e for e in events if e.operation is Operation.WRITE]) == len(writes)


# ------------------------------------------------------------------ planning without a chip


def test_planning_a_file_asks_the_flash_and_decides_from_the_answer():
    state = ChipState(get_chip("esp32c3"), "4MB", 4 * MB, False, False, can_md5=True)
    options = WriteOptions(skip_flashed=True, skip_unchanged=False)
    item = FlashInput(0x2100, b"x" * 16, "a.bin")

    def decided(answer: bool) -> FileWrite:
        planning = FilePlanner(state, options, compress=False).plan(item, None, encrypted=False)
        question = next(planning)
        assert (question.address, question.by_regions) == (0x2000, False)
        assert question.image == b"\xff" * 0x100 + item.data
        with pytest.raises(StopIteration) as stop:
            planning.send(answer)
        return stop.value.value

    assert decided(True).skip_message == "'a.bin' at 0x00002100 already in flash, skipping write."
    (transfer,) = decided(False).transfers
    assert (transfer.address, transfer.reported_address) == (0x2000, 0x2100)


# ------------------------------------------------------------------ sector diff


@settings(max_examples=60, deadline=None)
@given(
    old=st.binary(max_size=0x3000),
    new=st.binary(min_size=1, max_size=0x3000),
    start=st.sampled_from([0x0, 0x1000, 0x1800]),
)
def test_changed_sector_runs_reproduce_the_new_data(old, new, start):
    flash = bytearray(b"\xff" * 0x8000)
    flash[start : start + len(old)] = old
    for address, payload in changed_sector_runs(old, new, start):
        assert address % 0x1000 == 0 and len(payload) % 0x1000 == 0
        flash[address : address + len(payload)] = payload
    assert bytes(flash[start : start + len(new)]) == new


def test_flash_id_sizes():
    from espforge.flash import FlashId

    assert FlashId(jedec_id(4 * MB)).size_name == "4MB"
    assert FlashId(0x1640C8).device == 0x4016 and FlashId(0x1640C8).manufacturer == 0xC8
    assert FlashId(0x00471F).size_name == "4MB"  # Adesto: size in the middle byte
    assert FlashId(0xFFFFFF).size_name is None and not FlashId(0xFFFFFF).answered
