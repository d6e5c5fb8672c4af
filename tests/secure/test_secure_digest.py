"""The ESP32 secure boot v1 bootloader digest against espsecure 5.6 and the fixture."""

from __future__ import annotations

import hashlib
import io
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from espforge.secure.bootloader_digest import digest_secure_bootloader
from espforge.secure.errors import SecureError

pytestmark = pytest.mark.oracle
espsecure = pytest.importorskip("espsecure", reason="espsecure (test-only oracle) is absent")

IMAGE_FIXTURES = ["bootloader.bin", "bootloader_signed.bin", "hello-world-signed.bin"]


def pseudo_random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def espsecure_digest(key: bytes, image: bytes, iv: bytes, tmp_path) -> bytes:
    output = tmp_path / "digest.bin"
    espsecure.digest_secure_bootloader(
        named(key, "key.bin"), str(output), named(iv, "iv.bin"), named(image, "image.bin")
    )
    return output.read_bytes()


def esp32_image(payload_length: int, hash_appended: bool, segments: int = 1) -> bytes:
    """A minimal ESP32 image: `segments` segments of `payload_length` bytes each, the checksum
    byte ending a 16-byte block, and the SHA-256 if the header says so."""
    header = struct.pack("<BBBBI", 0xE9, segments, 2, 0x20, 0x40080000)
    extended = struct.pack("<BBBBHBHH4sB", 0xEE, 0, 0, 0, 0, 0, 0, 0, bytes(4), hash_appended)
    body = b"".join(
        struct.pack("<II", 0x3FFB0000 + 0x1000 * index, payload_length)
        + pseudo_random(payload_length, index)
        for index in range(segments)
    )
    image = header + extended + body
    image += bytes(15 - len(image) % 16) + b"\x5a"
    return image + hashlib.sha256(image).digest() if hash_appended else image


def test_fixture_digest(tmp_path):
    key = fixture_path("secure", "256bit_key.bin").read_bytes()
    iv = fixture_path("secure", "256bit_iv.bin").read_bytes()
    image = fixture_path("secure", "bootloader.bin").read_bytes()
    expected = fixture_path("secure", "bootloader_digested.bin").read_bytes()
    assert digest_secure_bootloader(key, image, iv) == expected


@pytest.mark.parametrize("iv_name", ["256bit_iv.bin", "digest_iv.bin"])
@pytest.mark.parametrize("image_name", IMAGE_FIXTURES)
def test_fixture_images_match_espsecure(image_name, iv_name, tmp_path):
    image = fixture_path("secure", image_name).read_bytes()
    iv = fixture_path("secure", iv_name).read_bytes()
    for key in (pseudo_random(16, 1), pseudo_random(24, 2), pseudo_random(32, 3)):
        assert digest_secure_bootloader(key, image, iv) == espsecure_digest(
            key, image, iv, tmp_path
        )


def test_an_iv_longer_than_128_bytes_is_cut_to_128(tmp_path):
    key, iv = pseudo_random(32, 4), pseudo_random(200, 5)
    image = esp32_image(100, True)
    digested = digest_secure_bootloader(key, image, iv)
    assert digested[:128] == iv[:128]
    assert digested == espsecure_digest(key, image, iv, tmp_path)


def test_layout_iv_digest_padding_image():
    image = esp32_image(200, False)
    digested = digest_secure_bootloader(pseudo_random(32, 6), image, pseudo_random(128, 7))
    padded_length = -(-len(image) // 128) * 128
    assert len(digested) == 0x1000 + padded_length
    assert digested[192:0x1000] == b"\xff" * (0x1000 - 192)
    assert digested[0x1000:] == image.ljust(padded_length, b"\xff")


def test_random_iv_when_none_is_given(tmp_path):
    key, image = pseudo_random(32, 8), esp32_image(64, True)
    first, second = (digest_secure_bootloader(key, image) for _ in range(2))
    assert first[:128] != second[:128]
    assert first == espsecure_digest(key, image, first[:128], tmp_path)


@settings(max_examples=40, deadline=None)
@given(
    payload=st.integers(0, 300).map(lambda length: length * 4),
    hash_appended=st.booleans(),
    key_bytes=st.sampled_from([16, 24, 32]),
    iv_blocks=st.integers(1, 9),
)
def test_images_of_every_length_match_espsecure(
    payload, hash_appended, key_bytes, iv_blocks, tmp_path_factory
):
    """Every remainder modulo 128, with and without an appended SHA-256 (whose last 32 bytes
    the engine leaves out when they spill into one more block)."""
    image = esp32_image(payload, hash_appended)
    key, iv = pseudo_random(key_bytes, payload), pseudo_random(16 * iv_blocks, payload + 1)
    expected = espsecure_digest(key, image, iv, tmp_path_factory.mktemp("digest"))
    assert digest_secure_bootloader(key, image, iv) == expected


# --- bad input ---


def assert_one_line(error: pytest.ExceptionInfo[SecureError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("key_bytes", [0, 8, 31, 64])
def test_refuses_wrong_key_size(key_bytes):
    with pytest.raises(SecureError) as error:
        digest_secure_bootloader(bytes(key_bytes), esp32_image(16, True), key_source="sb.key")
    assert_one_line(error, "sb.key", f"{key_bytes * 8}-bit", "128, 192 or 256-bit")


@pytest.mark.parametrize(
    "image",
    [b"", b"\x00" * 64, esp32_image(64, True)[:40], esp32_image(16, False, segments=17)],
    ids=["empty", "not-an-image", "truncated", "17-segments"],
)
def test_refuses_what_is_not_a_firmware_image(image):
    with pytest.raises(SecureError) as error:
        digest_secure_bootloader(pseudo_random(32, 9), image, source="boot.bin")
    assert_one_line(error, "boot.bin")


@pytest.mark.parametrize("iv", [b"", bytes(20), bytes(120)])
def test_refuses_an_iv_of_partial_blocks(iv):
    with pytest.raises(SecureError) as error:
        digest_secure_bootloader(
            pseudo_random(32, 10), esp32_image(16, True), iv, iv_source="iv.bin"
        )
    assert_one_line(error, f"iv.bin: holds {len(iv)} bytes", "--iv")


@pytest.mark.parametrize("hash_appended", [True, False])
@pytest.mark.parametrize("payload", range(0, 128, 16))
def test_every_spill_into_the_last_block_matches_espsecure(payload, hash_appended, tmp_path):
    image = esp32_image(payload, hash_appended)
    key, iv = pseudo_random(32, payload), pseudo_random(128, payload + 1)
    assert digest_secure_bootloader(key, image, iv) == espsecure_digest(key, image, iv, tmp_path)
