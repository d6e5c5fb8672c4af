"""Flash parameter rewriting of bootloader images matches esptool 5.6 byte for byte."""

from __future__ import annotations

import hashlib
import logging
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from espforge.chips import CHIP_NAMES, get_chip
from espforge.errors import ImageError
from espforge.image.firmware import load_image
from espforge.image.flash_params import flash_size_bytes, update_flash_params

cmds = pytest.importorskip("esptool.cmds", reason="esptool (test-only oracle) is absent")
targets = pytest.importorskip("esptool.targets")


def esptool_update(chip: str, address: int, data: bytes, mode: str, freq: str, size: str) -> bytes:
    chip_class = targets.CHIP_DEFS[chip]
    return cmds._update_image_flash_params(chip_class, address, freq, mode, size, data)


def ours(chip: str, address: int, data: bytes, mode: str, freq: str, size: str) -> bytes:
    return update_flash_params(data, address, get_chip(chip), mode, freq, size, "test.bin")


def build_image(segments: list[bytes], append_digest: bool, extended_header: bool = True) -> bytes:
    """A minimal bootloader image built by hand: header, segments, checksum, optional digest."""
    body = struct.pack("<BBBBI", 0xE9, len(segments), 2, 0x20, 0x40080000)
    if extended_header:
        body += bytes([0xEE]) + bytes(14) + bytes([1 if append_digest else 0])
    for index, segment in enumerate(segments):
        body += struct.pack("<II", 0x3FFB0000 + index * 0x1000, len(segment)) + segment
    body += bytes(15 - len(body) % 16) + b"\x5a"
    return body + (hashlib.sha256(body).digest() if append_digest else b"")


# (chip, fixture folder and file)
BOOTLOADERS = [
    ("esp32", ("images", "bootloader_esp32.bin")),
    ("esp32", ("images", "bootloader_esp32_v5_2.bin")),  # SHA-256 appended
    ("esp32c3", ("images", "bootloader_esp32c3.bin")),  # SHA-256 appended
    ("esp8266", ("images", "bootloader_esp8266.bin")),
    ("esp32", ("secure", "bootloader_signed_v2_rsa.bin")),  # digest followed by a signature
    ("esp32", ("secure", "bootloader_digested.bin")),
]
PARAMETER_SETS = [
    ("dio", "keep", "keep"),
    ("keep", "40m", "keep"),
    ("keep", "keep", "4MB"),
    ("qio", "80m", "2MB"),
    ("dout", "20m", "16MB"),
    ("keep", "keep", "keep"),
]


@pytest.mark.oracle
@pytest.mark.parametrize(("chip", "parts"), BOOTLOADERS)
@pytest.mark.parametrize(("mode", "freq", "size"), PARAMETER_SETS)
def test_bootloader_fixtures_match_esptool(chip, parts, mode, freq, size) -> None:
    data = fixture_path(*parts).read_bytes()
    address = get_chip(chip).bootloader_flash_offset
    expected = esptool_update(chip, address, data, mode, freq, size)
    assert ours(chip, address, data, mode, freq, size) == expected


def test_header_bytes_and_digest_are_rewritten() -> None:
    data = fixture_path("images", "bootloader_esp32_v5_2.bin").read_bytes()
    image = load_image(data, get_chip("esp32"))
    assert image.hash_appended
    hashed = image.hashed_length
    updated = ours("esp32", 0x1000, data, "dout", "80m", "8MB")
    assert updated[2:4] == bytes([3, 0x30 | 0xF])
    assert updated[4:hashed] == data[4:hashed]
    assert updated[hashed : hashed + 32] == hashlib.sha256(updated[:hashed]).digest()
    assert updated[hashed + 32 :] == data[hashed + 32 :]


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_every_chip_patches_its_own_bootloader_offset(chip: str) -> None:
    spec = get_chip(chip)
    freq = next(iter(spec.flash_frequencies))
    with_extended_header = spec.image_format == "esp32"
    image = build_image([b"\x02" * 20], with_extended_header, with_extended_header)
    expected = esptool_update(chip, spec.bootloader_flash_offset, image, "dio", freq, "2MB")
    assert ours(chip, spec.bootloader_flash_offset, image, "dio", freq, "2MB") == expected
    assert ours(chip, spec.bootloader_flash_offset + 0x1000, image, "dio", freq, "2MB") == image


def test_esp8266_image_never_has_a_digest() -> None:
    # Byte 23 is segment data on the ESP8266; esptool 5.6 misreads a 1 there as a digest flag
    # and crashes, while espforge just patches the header.
    image = build_image([b"\x01" * 16], append_digest=False, extended_header=False)
    updated = ours("esp8266", 0x0, image, "dio", "keep", "4MB")
    assert updated == image[:2] + bytes([2, 0x40]) + image[4:]


def test_data_elsewhere_or_all_keep_is_untouched() -> None:
    data = fixture_path("images", "bootloader_esp32.bin").read_bytes()
    assert ours("esp32", 0x0, data, "dio", "40m", "4MB") == data
    assert ours("esp32", 0x1000, data, "keep", "keep", "keep") == data
    assert ours("esp32", 0x1000, data[:7], "dio", "40m", "4MB") == data[:7]


def test_non_image_is_untouched_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = fixture_path("images", "one_kb_all_ef.bin").read_bytes()
    with caplog.at_level(logging.WARNING):
        assert ours("esp32c3", 0x0, data, "dio", "keep", "keep") == data
    assert "test.bin at 0x0 does not look like an image" in caplog.text


@pytest.mark.parametrize(
    "damage",
    [
        lambda image: image[:40],  # truncated segment
        lambda image: image[:-33],  # checksum byte missing
        lambda image: image[:23] + b"\x02" + image[24:],  # digest flag neither 0 nor 1
        lambda image: image[:1] + b"\x11" + image[2:],  # more than 16 segments
    ],
)
def test_malformed_image_is_untouched_with_a_warning(damage, caplog) -> None:
    image = damage(build_image([b"\x02" * 64, b"\x03" * 12], append_digest=True))
    with caplog.at_level(logging.WARNING):
        assert ours("esp32s3", 0x0, image, "qio", "80m", "4MB") == image
    assert "is not a valid ESP32-S3 image" in caplog.text
    assert esptool_update("esp32s3", 0x0, image, "qio", "80m", "4MB") == image


def test_truncated_digest_is_completed_like_esptool() -> None:
    image = build_image([b"\x04" * 32], append_digest=True)[:-20]
    expected = esptool_update("esp32c6", 0x0, image, "dio", "keep", "keep")
    assert ours("esp32c6", 0x0, image, "dio", "keep", "keep") == expected
    assert len(expected) == len(image) + 20


def test_unsupported_choices_are_refused() -> None:
    data = fixture_path("images", "bootloader_esp32c3.bin").read_bytes()
    with pytest.raises(ImageError, match="flash frequency '60m' is not supported by the ESP32-C3"):
        ours("esp32c3", 0x0, data, "keep", "60m", "keep")
    with pytest.raises(ImageError, match="flash size '256KB' is not supported"):
        ours("esp32c3", 0x0, data, "keep", "keep", "256KB")
    with pytest.raises(ImageError, match="flash mode 'fast' is not supported"):
        ours("esp32c3", 0x0, data, "fast", "keep", "keep")
    with pytest.raises(ImageError, match="'detect' needs a connected chip"):
        ours("esp32c3", 0x0, data, "keep", "keep", "detect")


def test_flash_size_bytes() -> None:
    assert flash_size_bytes("256KB") == 0x40000
    assert flash_size_bytes("4MB") == 0x400000
    assert flash_size_bytes("2MB-c1") == 0x200000
    with pytest.raises(ImageError, match="not a size"):
        flash_size_bytes("big")


@pytest.mark.oracle
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chip=st.sampled_from(["esp32", "esp32c3", "esp32p4"]),
    segments=st.lists(st.binary(max_size=40), max_size=3),
    append_digest=st.booleans(),
    cut=st.integers(min_value=0, max_value=200),
    flips=st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), max_size=3),
    mode=st.sampled_from(["keep", "qio", "dout"]),
    size=st.sampled_from(["keep", "4MB"]),
)
def test_damaged_images_match_esptool(chip, segments, append_digest, cut, flips, mode, size):
    image = bytearray(build_image(segments, append_digest))
    for offset, value in flips:
        if 0 < offset < len(image):  # keep the magic byte so the image parser is exercised
            image[offset] = value
    data = bytes(image[: len(image) - cut % (len(image) + 1)])
    address = get_chip(chip).bootloader_flash_offset
    assert ours(chip, address, data, mode, "keep", size) == esptool_update(
        chip, address, data, mode, "keep", size
    )
