"""The ELF reader: same selection as esptool's ELFFile, and only ImageError for bad input."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_files
from espforge.errors import ImageError
from espforge.image import elfwriter as ew
from espforge.image.elf import EM_RISCV, EM_XTENSA, parse_elf

esptool_bin_image = pytest.importorskip("esptool.bin_image")

ELF_FIXTURES = fixture_files("elf", "*.elf")
INIT_ARRAY = ew.SectionType.INIT_ARRAY


@pytest.mark.oracle
@pytest.mark.parametrize("path", ELF_FIXTURES, ids=lambda p: p.name)
def test_fixture_sections_and_segments_match_esptool(path):
    data = path.read_bytes()
    reference = esptool_bin_image.ELFFile(data)
    elf = parse_elf(data, path.name)
    assert elf.entry_point == reference.entrypoint

    def as_loaded(parts):  # esptool pads loaded parts to 4 bytes; the reader keeps file bytes
        return [(p.name, p.address, p.data + bytes(-len(p.data) % 4)) for p in parts]

    assert as_loaded(elf.sections) == [(s.name, s.addr, s.data) for s in reference.sections]
    assert [(s.name, s.address) for s in elf.nobits_sections] == [
        (s.name, s.addr) for s in reference.nobits_sections
    ]
    assert as_loaded(elf.segments) == [(s.name, s.addr, s.data) for s in reference.segments]
    assert [s.align for s in elf.sections] == [s.align for s in reference.sections]
    assert elf.sha256() == reference.sha256() == hashlib.sha256(data).digest()


def sample_elf(machine: int = EM_XTENSA) -> bytes:
    sections = [
        ew.ElfSection(".text", 0x40080000, b"\x01\x02\x03", execute=True),
        ew.ElfSection(
            ".init_array", 0x3FFB0000, b"\x04" * 8, section_type=ew.SectionType.INIT_ARRAY
        ),
        ew.nobits_section(".bss", 0x3FFB1000, 0x200),
        ew.ElfSection(".comment", 0, b"GCC", alloc=False),
        ew.ElfSection(".empty", 0x3FFB2000, b""),
    ]
    return ew.build_elf(machine, 0x40080000, sections)


def test_section_selection():
    elf = parse_elf(sample_elf())
    assert [(s.name, s.address, s.data) for s in elf.sections] == [
        (".text", 0x40080000, b"\x01\x02\x03"),
        (".init_array", 0x3FFB0000, b"\x04" * 8),
    ]
    assert [(s.name, s.address, s.data) for s in elf.nobits_sections] == [(".bss", 0x3FFB1000, b"")]
    assert elf.architecture == "Xtensa"
    assert parse_elf(sample_elf(EM_RISCV)).architecture == "RISC-V"
    assert [s.address for s in elf.segments] == [0x40080000, 0x3FFB0000]
    assert elf.section(".text").flags & ew.SHF_EXECINSTR
    assert elf.section(".missing") is None


def test_unknown_section_types_are_skipped_with_a_warning(caplog):
    odd = ew.ElfSection(".odd", 0x3FFB3000, b"\x00" * 4, section_type=ew.SectionType.SYMTAB)
    elf = parse_elf(ew.build_elf(EM_XTENSA, 0, [odd]))
    assert elf.sections == []
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (logging.WARNING, "Unknown section type 0x02 in ELF file")
    ]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:20], "too short"),
        (lambda d: b"\x7fELG" + d[4:], "has invalid ELF magic header"),
        (lambda d: d[:18] + struct.pack("<H", 0x28) + d[20:], r"\(e_machine = 0x0028\)"),
        (lambda d: d[:46] + struct.pack("<H", 0x20) + d[48:], "entry size 0x20 .not 0x28"),
        (lambda d: d[:48] + struct.pack("<H", 0) + d[50:], "has 0 section headers"),
        (lambda d: d[:48] + struct.pack("<H", 900) + d[50:], "section header table"),
        (lambda d: d[:50] + struct.pack("<H", 200) + d[52:], "names section index"),
        (lambda d: d[:32] + struct.pack("<I", len(d) + 8) + d[36:], "section header table"),
        (lambda d: d[:28] + struct.pack("<I", len(d) - 8) + d[32:], "program header table"),
    ],
)
def test_malformed_headers_are_one_line_errors(mutate, message):
    with pytest.raises(ImageError, match=message) as caught:
        parse_elf(mutate(sample_elf()), "app.elf")
    assert str(caught.value).startswith("app.elf: ") and "\n" not in str(caught.value)


def test_section_data_past_the_end_is_an_error():
    data = bytearray(sample_elf())
    shoff = struct.unpack_from("<I", data, 32)[0]
    struct.pack_into("<I", data, shoff + 40 + 16, len(data))  # .text's sh_offset
    with pytest.raises(ImageError, match="section .text"):
        parse_elf(bytes(data))


def test_esptool_rejects_what_we_reject_on_headers():
    data = b"\x7fELF" + bytes(48)
    with pytest.raises(esptool_bin_image.FatalError):
        esptool_bin_image.ELFFile(data)
    with pytest.raises(ImageError):
        parse_elf(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_image_error(data):
    try:
        parse_elf(data)
    except ImageError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_corrupted_real_elf_parses_or_raises_image_error(data):
    raw = bytearray(sample_elf(data.draw(st.sampled_from([EM_XTENSA, EM_RISCV]))))
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(ImageError):
        parse_elf(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))
