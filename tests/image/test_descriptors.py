"""The ESP-IDF app and bootloader descriptor parsers: known values, round trips, fuzzing, oracle."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from espforge.errors import ImageError
from espforge.image.descriptors import (
    APP_DESC_MAGIC,
    APP_DESC_SIZE,
    BOOTLOADER_DESC_MAGIC,
    BOOTLOADER_DESC_SIZE,
    AppDescriptor,
    BootloaderDescriptor,
    parse_app_descriptor,
    parse_bootloader_descriptor,
    revision_text,
)
from espforge.image.elfwriter import app_descriptor, bootloader_descriptor


# Text that fits a fixed C field: no NUL (it ends the string) and at most `size` UTF-8 bytes.
def field_text(size: int) -> st.SearchStrategy[str]:
    return st.text(
        st.characters(exclude_characters="\0", exclude_categories=("Cs",)), max_size=size
    ).filter(lambda text: len(text.encode()) <= size)


def test_bootloader_descriptor_of_an_idf_5_2_bootloader():
    image = fixture_path("images", "bootloader_esp32_v5_2.bin").read_bytes()
    # One segment header follows the 24 header bytes; its data starts with the descriptor.
    descriptor = parse_bootloader_descriptor(image[0x20:])
    assert descriptor == BootloaderDescriptor(
        version=1, idf_version="v5.2-dev-254-g1950b15", date_time="Apr 25 2023 00:13:32"
    )


def test_app_descriptor_fields_and_page_size():
    raw = app_descriptor(
        project_name="blink",
        version="v1.2.3",
        idf_version="v5.3.1",
        date="Jan  2 2025",
        time="12:34:56",
        secure_version=7,
        app_elf_sha256=bytes(range(32)),
        min_efuse_blk_rev_full=1,
        max_efuse_blk_rev_full=199,
        mmu_page_size=32 * 1024,
    )
    descriptor = parse_app_descriptor(raw + b"code after the descriptor")
    assert descriptor == AppDescriptor(
        secure_version=7,
        version="v1.2.3",
        project_name="blink",
        compile_time="12:34:56",
        compile_date="Jan  2 2025",
        idf_version="v5.3.1",
        elf_sha256=bytes(range(32)),
        min_efuse_block_revision=1,
        max_efuse_block_revision=199,
        mmu_page_size_log2=15,
    )
    assert descriptor.mmu_page_size == 32768
    assert revision_text(descriptor.max_efuse_block_revision) == "1.99"


def test_no_page_size_recorded():
    raw = app_descriptor(project_name="p", version="v", idf_version="i", date="d", time="t")
    descriptor = parse_app_descriptor(raw)
    assert descriptor is not None
    assert descriptor.mmu_page_size is None


@pytest.mark.parametrize(
    ("parse", "size", "magic"),
    [
        (parse_app_descriptor, APP_DESC_SIZE, struct.pack("<I", APP_DESC_MAGIC)),
        (parse_bootloader_descriptor, BOOTLOADER_DESC_SIZE, bytes([BOOTLOADER_DESC_MAGIC])),
    ],
)
def test_absent_descriptors(parse, size, magic):
    assert parse(b"") is None
    assert parse(magic + bytes(size - len(magic) - 1)) is None  # one byte short
    assert parse(bytes(size)) is None  # no magic
    assert parse(magic + bytes(size - len(magic))) is not None


def test_nuls_inside_a_field_are_dropped_like_esptool_does():
    raw = bytearray(app_descriptor(project_name="ab", version="", idf_version="", date="", time=""))
    raw[16 + 32 + 3] = ord("c")  # "ab\0c": esptool shows "abc"
    descriptor = parse_app_descriptor(bytes(raw))
    assert descriptor is not None
    assert descriptor.project_name == "abc"


def test_text_that_is_not_utf8_is_an_image_error():
    raw = bytearray(bootloader_descriptor(version=1, idf_version="v5", date_time="now"))
    raw[8] = 0xFF
    with pytest.raises(ImageError, match="bootloader descriptor's ESP-IDF version"):
        parse_bootloader_descriptor(bytes(raw))


@given(
    project_name=field_text(32),
    version=field_text(32),
    idf_version=field_text(32),
    date=field_text(16),
    time=field_text(16),
    secure_version=st.integers(0, 2**32 - 1),
    sha=st.binary(min_size=32, max_size=32),
    min_rev=st.integers(0, 0xFFFF),
    max_rev=st.integers(0, 0xFFFF),
    page_log2=st.integers(0, 31),
)
def test_app_descriptor_round_trip(
    project_name, version, idf_version, date, time, secure_version, sha, min_rev, max_rev, page_log2
):
    raw = app_descriptor(
        project_name=project_name,
        version=version,
        idf_version=idf_version,
        date=date,
        time=time,
        secure_version=secure_version,
        app_elf_sha256=sha,
        min_efuse_blk_rev_full=min_rev,
        max_efuse_blk_rev_full=max_rev,
        mmu_page_size=1 << page_log2 if page_log2 else 0,
    )
    assert parse_app_descriptor(raw) == AppDescriptor(
        secure_version=secure_version,
        version=version,
        project_name=project_name,
        compile_time=time,
        compile_date=date,
        idf_version=idf_version,
        elf_sha256=sha,
        min_efuse_block_revision=min_rev,
        max_efuse_block_revision=max_rev,
        mmu_page_size_log2=page_log2,
    )


@given(version=st.integers(0, 2**32 - 1), idf_version=field_text(32), date_time=field_text(24))
def test_bootloader_descriptor_round_trip(version, idf_version, date_time):
    raw = bootloader_descriptor(version=version, idf_version=idf_version, date_time=date_time)
    assert parse_bootloader_descriptor(raw) == BootloaderDescriptor(version, idf_version, date_time)


@given(st.binary(max_size=APP_DESC_SIZE + 16))
def test_parsers_never_fail_but_with_image_error(data):
    for parse in (parse_app_descriptor, parse_bootloader_descriptor):
        try:
            parse(data)
        except ImageError as exc:
            assert "\n" not in str(exc)


# esptool 5.6's own parsers as the oracle, on descriptors with the right magic and random fields.
def esptool_cmds():
    return pytest.importorskip("esptool.cmds", reason="esptool (test-only oracle) is not installed")


def raw_field(size: int) -> st.SearchStrategy[bytes]:
    """A C string field: text (NULs and cut characters allowed) padded with NULs, or noise."""
    text = st.text(max_size=size).map(lambda t: t.encode()[:size].ljust(size, b"\0"))
    return st.one_of(text, st.binary(min_size=size, max_size=size))


@st.composite
def raw_app_descriptors(draw) -> bytes:
    return b"".join(
        [
            struct.pack("<I", APP_DESC_MAGIC),
            draw(st.binary(min_size=12, max_size=12)),  # secure version, reserved
            *(draw(raw_field(size)) for size in (32, 32, 16, 16, 32)),
            draw(st.binary(min_size=32 + 2 + 2 + 1 + 3 + 72, max_size=32 + 2 + 2 + 1 + 3 + 72)),
        ]
    )


@st.composite
def raw_bootloader_descriptors(draw) -> bytes:
    return b"".join(
        [
            bytes([BOOTLOADER_DESC_MAGIC]),
            draw(st.binary(min_size=7, max_size=7)),  # reserved, version
            draw(raw_field(32)),
            draw(raw_field(24)),
            draw(st.binary(min_size=16, max_size=16)),
        ]
    )


def _oracle_or_error(parse, data):
    try:
        return parse(data)
    except UnicodeDecodeError:
        return "not UTF-8"


def _ours_or_error(parse, data):
    try:
        return parse(data)
    except ImageError:
        return "not UTF-8"


@pytest.mark.oracle
@settings(max_examples=300)
@given(raw_app_descriptors())
def test_app_descriptor_matches_esptool(data):
    expected = _oracle_or_error(esptool_cmds()._parse_app_info, data)
    ours = _ours_or_error(parse_app_descriptor, data)
    if isinstance(expected, str):
        assert ours == expected
        return
    assert (ours.project_name, ours.version, ours.idf_version) == (
        expected["project_name"],
        expected["version"],
        expected["idf_ver"],
    )
    assert (ours.compile_date, ours.compile_time) == (expected["date"], expected["time"])
    assert ours.elf_sha256.hex() == expected["app_elf_sha256"]
    assert ours.secure_version == expected["secure_version"]
    assert revision_text(ours.min_efuse_block_revision) == expected["min_efuse_blk_rev_full"]
    assert revision_text(ours.max_efuse_block_revision) == expected["max_efuse_blk_rev_full"]
    page = f"{ours.mmu_page_size // 1024} KB" if ours.mmu_page_size else None
    assert page == expected["mmu_page_size"]


@pytest.mark.oracle
@settings(max_examples=300)
@given(raw_bootloader_descriptors())
def test_bootloader_descriptor_matches_esptool(data):
    expected = _oracle_or_error(esptool_cmds()._parse_bootloader_info, data)
    ours = _ours_or_error(parse_bootloader_descriptor, data)
    if isinstance(expected, str):
        assert ours == expected
        return
    assert (ours.version, ours.idf_version, ours.date_time) == (
        expected["version"],
        expected["idf_ver"],
        expected["date_time"],
    )
