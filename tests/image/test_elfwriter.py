"""The ELF writer's output as seen by esptool 5.6's ELF reader and by binutils' readelf."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.image.elfwriter import (
    APP_DESC_SHA256_OFFSET,
    APP_DESC_SIZE,
    BOOTLOADER_DESC_SIZE,
    MACHINE_RISCV,
    MACHINE_XTENSA,
    ElfSection,
    ElfSegment,
    ElfSymbol,
    app_descriptor,
    bootloader_descriptor,
    build_elf,
    nobits_section,
)

bin_image = pytest.importorskip("esptool.bin_image", reason="esptool (test-only oracle) is absent")
esptool_cmds = pytest.importorskip("esptool.cmds")

APP_SECTIONS = [
    ElfSection(".flash.appdesc", 0x3C000020, bytes(range(256))),
    ElfSection(".flash.rodata", 0x3C000120, b"rodata!!" * 40),
    ElfSection(".iram0.text", 0x40380000, b"\x13\x00\x00\x00" * 64, execute=True),
    ElfSection(".dram0.data", 0x3FC88000, b"data" * 16, write=True),
    nobits_section(".dram0.bss", 0x3FC88040, 0x400),
    ElfSection(".flash.text", 0x42000020, b"\x01\x00" * 300, execute=True),
    ElfSection(".comment", 0, b"GCC: (crosstool-NG) 13.2.0\0", alloc=False, align=1),
]


def read_with_esptool(data: bytes):
    return bin_image.ELFFile(data)


def padded(data: bytes) -> bytes:
    """esptool pads every segment it reads to a multiple of 4 bytes."""
    return data + bytes(-len(data) % 4)


def loaded(sections: list[ElfSection]) -> list[tuple[str, int, bytes]]:
    return [
        (s.name, s.address, padded(s.data)) for s in sections if s.address and s.data and s.alloc
    ]


def test_esptool_reads_sections_entry_and_nobits():
    elf = read_with_esptool(build_elf(MACHINE_RISCV, 0x40380000, APP_SECTIONS))
    assert elf.entrypoint == 0x40380000
    assert [(s.name, s.addr, s.data) for s in elf.sections] == loaded(APP_SECTIONS)
    assert [(s.name, s.addr) for s in elf.nobits_sections] == [(".dram0.bss", 0x3FC88040)]


def test_default_segments_are_one_per_loadable_section():
    elf = read_with_esptool(build_elf(MACHINE_XTENSA, 0x40080000, APP_SECTIONS))
    # esptool drops segments with no file bytes (the .bss one) like sections without data.
    assert [(s.addr, s.data) for s in elf.segments] == [
        (address, data) for _, address, data in loaded(APP_SECTIONS)
    ]


def test_given_segments_span_their_sections_with_gaps_zero_filled():
    sections = [
        ElfSection(".a", 0x3C000020, b"A" * 10),
        ElfSection(".b", 0x3C000030, b"B" * 6, align=16),
        ElfSection(".text", 0x40380000, b"T" * 8, execute=True),
        ElfSection(".data", 0x3FC88000, b"D" * 4, write=True),
        nobits_section(".bss", 0x3FC88010, 0x40),
    ]
    segments = [
        ElfSegment((".a", ".b")),
        ElfSegment((".text",), physical_address=0x42000000, executable=True),
        ElfSegment((".data", ".bss"), writable=True),
    ]
    elf = read_with_esptool(build_elf(MACHINE_RISCV, 0x40380000, sections, segments))
    assert [(s.addr, s.data) for s in elf.segments] == [
        (0x3C000020, b"A" * 10 + bytes(6) + b"B" * 6 + bytes(2)),
        (0x42000000, b"T" * 8),  # esptool takes the load (physical) address
        (0x3FC88000, b"D" * 4),
    ]
    assert [(s.name, s.addr, s.data) for s in elf.sections] == loaded(sections)


READELF = shutil.which("readelf")


@pytest.mark.skipif(READELF is None, reason="binutils' readelf is not installed")
def test_readelf_accepts_headers_segments_and_symbols(tmp_path: Path):
    symbols = [
        ElfSymbol("app_main", 0x42000020, 16, ".flash.text", is_function=True),
        ElfSymbol("counter", 0x3FC88000, 4, ".dram0.data"),
        ElfSymbol("local_helper", 0x40380004, 4, ".iram0.text", is_function=True, is_global=False),
        ElfSymbol("_abs_marker", 0x1234),
    ]
    path = tmp_path / "app.elf"
    path.write_bytes(build_elf(MACHINE_RISCV, 0x40380000, APP_SECTIONS, symbols=symbols))
    result = subprocess.run(
        [READELF, "-hlSsW", str(path)], capture_output=True, text=True, check=True
    )
    assert result.stderr == ""
    out = result.stdout
    assert "Machine:                           RISC-V" in out
    assert "Entry point address:               0x40380000" in out
    assert "LOAD           0x" in out
    assert " .dram0.bss        NOBITS          3fc88040" in out
    assert " .flash.text       PROGBITS        42000020" in out
    lines = [line.split() for line in out.splitlines()]
    symbol_rows = {row[-1]: row[1:7] for row in lines if len(row) == 8 and row[0].endswith(":")}
    assert symbol_rows["app_main"] == ["42000020", "16", "FUNC", "GLOBAL", "DEFAULT", "6"]
    assert symbol_rows["local_helper"] == ["40380004", "4", "FUNC", "LOCAL", "DEFAULT", "3"]
    assert symbol_rows["_abs_marker"][-1] == "ABS"


@st.composite
def section_layouts(draw):
    """Random non-overlapping loadable sections, some NOBITS, in a shuffled order."""
    count = draw(st.integers(1, 8))
    address = draw(st.integers(0x1000, 0x7000_0000)) & ~0xF
    sections = []
    for index in range(count):
        align = draw(st.sampled_from([1, 2, 4, 8, 16]))
        address = (address + draw(st.integers(0, 64)) + align - 1) // align * align
        if draw(st.booleans()) and index:
            section = nobits_section(
                f".bss{index}", address, draw(st.integers(1, 300)), align=align
            )
        else:
            data = draw(st.binary(min_size=1, max_size=300))
            section = ElfSection(
                f".sec{index}", address, data, execute=draw(st.booleans()), align=align
            )
        sections.append(section)
        address += section.size
    return draw(st.permutations(sections))


@settings(max_examples=60, deadline=None)
@given(sections=section_layouts(), entry=st.integers(0, 0xFFFF_FFFF))
def test_random_layouts_round_trip_through_esptool(sections, entry):
    elf = read_with_esptool(build_elf(MACHINE_RISCV, entry, sections))
    assert elf.entrypoint == entry
    assert [(s.name, s.addr, s.data) for s in elf.sections] == loaded(sections)
    assert sorted((s.name, s.addr) for s in elf.nobits_sections) == sorted(
        (s.name, s.address) for s in sections if s.is_nobits
    )


@settings(max_examples=40, deadline=None)
@given(sections=section_layouts())
def test_random_single_segment_holds_the_address_image(sections):
    ordered = sorted((s for s in sections if not s.is_nobits), key=lambda s: s.address)
    segment = ElfSegment(tuple(s.name for s in ordered))
    elf = read_with_esptool(build_elf(MACHINE_XTENSA, 0, sections, [segment]))
    start = ordered[0].address
    expected = bytearray()
    for section in ordered:
        if not section.is_nobits:
            expected.extend(bytes(section.address - start - len(expected)))
            expected.extend(section.data)
    assert [(s.addr, s.data) for s in elf.segments] == [(start, padded(bytes(expected)))]


def test_app_descriptor_parsed_by_esptool():
    descriptor = app_descriptor(
        project_name="espforge-demo",
        version="1.2.3",
        idf_version="v5.4.1",
        date="Jan  2 2025",
        time="12:34:56",
        secure_version=7,
        min_efuse_blk_rev_full=1,
        max_efuse_blk_rev_full=199,
        mmu_page_size=0x8000,
        app_elf_sha256=bytes(range(32)),
    )
    assert len(descriptor) == APP_DESC_SIZE
    assert descriptor[APP_DESC_SHA256_OFFSET : APP_DESC_SHA256_OFFSET + 32] == bytes(range(32))
    parsed = esptool_cmds._parse_app_info(descriptor)
    assert parsed["project_name"] == "espforge-demo"
    assert parsed["version"] == "1.2.3"
    assert parsed["idf_ver"] == "v5.4.1"
    assert parsed["date"] == "Jan  2 2025"
    assert parsed["time"] == "12:34:56"
    assert parsed["secure_version"] == 7
    assert parsed["min_efuse_blk_rev_full"] == "0.1"
    assert parsed["max_efuse_blk_rev_full"] == "1.99"
    assert parsed["mmu_page_size"] == "32 KB"
    assert parsed["app_elf_sha256"] == bytes(range(32)).hex()


def test_app_descriptor_without_page_size_leaves_it_unset():
    parsed = esptool_cmds._parse_app_info(
        app_descriptor(project_name="p", version="v", idf_version="i", date="d", time="t")
    )
    assert parsed["mmu_page_size"] is None


def test_bootloader_descriptor_parsed_by_esptool():
    descriptor = bootloader_descriptor(
        version=3, idf_version="v5.4.1", date_time="Jan  2 2025 12:34:56"
    )
    assert len(descriptor) == BOOTLOADER_DESC_SIZE
    parsed = esptool_cmds._parse_bootloader_info(descriptor)
    assert (parsed["version"], parsed["idf_ver"], parsed["date_time"]) == (
        3,
        "v5.4.1",
        "Jan  2 2025 12:34:56",
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: build_elf(94, 0, [ElfSection(".a", 4, b"x"), ElfSection(".a", 8, b"y")]),
            "unique",
        ),
        (lambda: build_elf(94, 0, [ElfSection(".a", 4, b"x")], [ElfSegment((".b",))]), "unknown"),
        (
            lambda: build_elf(
                94,
                0,
                [ElfSection(".a", 4, b"xxxx"), ElfSection(".b", 6, b"y")],
                [ElfSegment((".a", ".b"))],
            ),
            "overlap",
        ),
        (lambda: ElfSection(".a", 4, b"x", align=3), "power of two"),
        (
            lambda: app_descriptor(
                project_name="p" * 33, version="v", idf_version="i", date="d", time="t"
            ),
            "longer than its 32-byte field",
        ),
        (lambda: bootloader_descriptor(version=1, idf_version="i", date_time="x" * 25), "24-byte"),
    ],
)
def test_misuse_is_refused_with_a_reason(build, message):
    with pytest.raises(ValueError, match=message):
        build()
