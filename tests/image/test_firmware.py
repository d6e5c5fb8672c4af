"""The firmware-image parser against esptool 5.6's loader and known fixture values."""

from __future__ import annotations

import contextlib
import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_files, fixture_path
from espforge.chips import all_chips, get_chip
from espforge.errors import ImageError
from espforge.image.firmware import (
    ExtendedHeader,
    checksum,
    detect_image_chip,
    esp8266_crc32,
    load_image,
)

esptool_bin_image = pytest.importorskip("esptool.bin_image")
esptool_cmds = pytest.importorskip("esptool.cmds")

IMAGE_FIXTURES = fixture_files("images", "*.bin") + fixture_files("secure", "*.bin")


def esptool_view(data: bytes):
    """esptool's reading of an image (chip detected as its image-info does), or its error."""
    try:
        chip = esptool_cmds._parse_image_info_header(data)
        return esptool_bin_image.LoadFirmwareImage(chip, data)
    except Exception as exc:  # esptool raises FatalError (or crashes) on bad images
        return exc


def assert_same_as_esptool(data: bytes) -> None:
    reference = esptool_view(data)
    if isinstance(reference, Exception):
        with pytest.raises(ImageError):
            load_image(data)
        return
    image = load_image(data)
    assert image.version == reference.version
    assert image.entry_point == reference.entrypoint
    assert image.flash_mode == reference.flash_mode
    assert image.flash_size_freq == reference.flash_size_freq
    assert [(s.load_address, s.data, s.file_offset) for s in image.segments] == [
        (s.addr, s.data, s.file_offs) for s in reference.segments
    ]
    assert image.stored_checksum == reference.checksum
    assert image.computed_checksum == reference.calculate_checksum()
    if image.extended_header is not None:
        header = image.extended_header
        assert (header.wp_pin, header.chip_id, header.min_rev) == (
            reference.wp_pin,
            reference.chip_id,
            reference.min_rev,
        )
        assert (header.min_rev_full, header.max_rev_full, header.hash_appended) == (
            reference.min_rev_full,
            reference.max_rev_full,
            reference.append_digest,
        )
        drives = (header.clk_drv, header.q_drv, header.d_drv, header.cs_drv, header.hd_drv)
        assert drives == (
            reference.clk_drv,
            reference.q_drv,
            reference.d_drv,
            reference.cs_drv,
            reference.hd_drv,
        )
        if header.hash_appended:
            assert image.computed_sha256 == reference.calc_digest
            assert image.stored_sha256 == reference.stored_digest
            assert image.hashed_length == reference.data_length


@pytest.mark.oracle
@pytest.mark.parametrize("path", IMAGE_FIXTURES, ids=lambda p: p.name)
def test_fixture_images_read_as_esptool_reads_them(path):
    assert_same_as_esptool(path.read_bytes())


def test_esp32_bootloader_known_values():
    image = load_image(fixture_path("images", "bootloader_esp32.bin").read_bytes())
    assert image.chip.name == "esp32"
    assert (image.magic, image.segment_count, image.version) == (0xE9, 4, 1)
    assert image.entry_point == 0x4009816C
    assert image.flash_mode_name == "dio"
    assert image.flash_size_name == "2MB"
    assert image.flash_freq_name == "40m"
    assert image.extended_header == ExtendedHeader(wp_pin=0, hash_appended=False)
    assert image.checksum_valid
    assert image.computed_sha256 is None and image.sha256_valid is None
    assert image.segments[0].load_address == 0x3FFC0000
    assert image.segments[0].file_offset == 0x18
    assert image.memory_types(image.segments[0]) == ["BYTE_ACCESSIBLE", "DRAM"]


def test_esp8266_bootloader_known_values():
    image = load_image(fixture_path("images", "bootloader_esp8266.bin").read_bytes())
    assert image.chip.name == "esp8266"
    assert (image.version, image.segment_count, image.entry_point) == (1, 3, 0x40100294)
    assert image.extended_header is None
    assert image.checksum_valid
    assert (image.checksum_offset + 1) % 16 == 0


def test_sha256_covers_everything_up_to_the_checksum_byte():
    data = fixture_path("secure", "bootloader_unsigned_v2.bin").read_bytes()
    image = load_image(data)
    assert image.hash_appended and image.sha256_valid
    assert image.hashed_length == image.checksum_offset + 1
    assert image.computed_sha256 == hashlib.sha256(data[: image.hashed_length]).digest()
    corrupted = bytearray(data)
    corrupted[image.segments[0].data_offset] ^= 0xFF
    broken = load_image(bytes(corrupted))
    assert not broken.checksum_valid and not broken.sha256_valid


def test_checksum_helpers():
    assert checksum(b"") == 0xEF
    assert checksum(b"\xef") == 0
    assert checksum(b"\x01\x02", 0) == 3
    crc_of_nothing = esp8266_crc32(b"")
    assert crc_of_nothing == 1  # crc32 of nothing is 0, and the SDK's variant adds one


def test_chip_mismatch_is_refused_in_one_line():
    data = fixture_path("images", "bootloader_esp32c3.bin").read_bytes()
    with pytest.raises(ImageError, match="ESP32-C3.*not ESP32-S3") as caught:
        load_image(data, get_chip("esp32s3"), source="boot.bin")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("boot.bin: ")
    assert load_image(data, get_chip("esp32s3"), check_chip_id=False).chip.name == "esp32s3"


def test_truncated_image_names_the_source():
    data = fixture_path("images", "bootloader_esp32.bin").read_bytes()
    for cut in (0, 5, 20, 40, 1000, len(data) - 40):
        with pytest.raises(ImageError, match="^fw.bin: "):
            load_image(data[:cut], source="fw.bin")


def test_detect_recognises_every_esp32_family_chip_id():
    for chip in all_chips():
        if chip.image_chip_id is None:
            continue
        header = bytes([0xE9, 0, 0, 0, 0, 0, 0, 0])
        extended = ExtendedHeader(chip_id=chip.image_chip_id).pack()
        assert detect_image_chip(header + extended) == chip


def esp8266_v2_image_from_esptool(irom: bytes, ram: bytes) -> bytes:
    image = esptool_bin_image.ESP8266V2FirmwareImage()
    image.entrypoint = 0x40100000
    image.flash_mode, image.flash_size_freq = 2, 0x20
    image.segments = [
        esptool_bin_image.ImageSegment(0x40201010, irom),
        esptool_bin_image.ImageSegment(0x3FFE8000, ram),
    ]
    return image.save(None)


@pytest.mark.oracle
def test_esp8266_v2_image_fields():
    data = esp8266_v2_image_from_esptool(b"\x11" * 20, b"\x22" * 8)
    assert_same_as_esptool(data)
    image = load_image(data)
    assert (image.version, image.magic, image.segment_count) == (2, 0xEA, 1)
    assert image.irom_segment is image.segments[0]
    assert image.irom_segment.data == b"\x11" * 20 + bytes(12)  # padded to 16 bytes
    assert not image.irom_segment.in_checksum
    assert image.stored_crc32 == image.computed_crc32 == struct.unpack("<I", data[-4:])[0]
    assert image.checksum_valid and image.warnings == []


def test_too_many_segments_is_refused():
    segment = struct.pack("<II", 0x3FFE8000, 4) + bytes(4)
    data = bytes([0xE9, 17, 0, 0, 0, 0, 0, 0]) + segment * 17 + bytes(16)
    with pytest.raises(ImageError, match="17 segments"):
        load_image(data, get_chip("esp8266"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([None, "esp8266", "esp32", "esp32c3"]))
def test_any_bytes_parse_or_raise_image_error(data, chip_name):
    chip = get_chip(chip_name) if chip_name else None
    try:
        load_image(data, chip)
    except ImageError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_real_images_parse_or_raise_image_error(data):
    path = data.draw(st.sampled_from(fixture_files("images", "bootloader_*.bin") or [None]))
    if path is None:
        return
    raw = bytearray(path.read_bytes()[:400])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ImageError):
        load_image(bytes(raw))
