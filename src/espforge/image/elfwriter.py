"""Build small ELF32 little-endian executables in memory, plus ESP-IDF descriptor blobs.

Used by the demo, the benchmarks and tests that need ELF inputs of a known shape. The layout
follows what a linker emits: ELF header, program headers, section data (sections that share a
segment sit at file offsets mirroring their address gaps), symbol tables, section name table and
finally the section header table.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import pairwise

MACHINE_XTENSA = 94
MACHINE_RISCV = 243

ELF_HEADER_SIZE = 52
PROGRAM_HEADER_SIZE = 32
SECTION_HEADER_SIZE = 40
SYMBOL_SIZE = 16

# Section flags (sh_flags) and segment flags (p_flags).
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
PF_X = 0x1
PF_W = 0x2
PF_R = 0x4
PT_LOAD = 1
SHN_ABS = 0xFFF1


class SectionType(IntEnum):
    """The sh_type values this writer emits."""

    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    NOBITS = 8
    INIT_ARRAY = 14
    FINI_ARRAY = 15
    PREINIT_ARRAY = 16


@dataclass(frozen=True)
class ElfSection:
    """One section: its bytes (or, for NOBITS, only a size) loaded at `address`."""

    name: str
    address: int
    data: bytes = b""
    nobits_size: int = 0  # memory size of a NOBITS section such as .bss; it has no file bytes
    alloc: bool = True
    execute: bool = False
    write: bool = False
    section_type: SectionType = SectionType.PROGBITS
    align: int = 4

    def __post_init__(self) -> None:
        if self.align < 1 or self.align & (self.align - 1):
            raise ValueError(f"section {self.name}: alignment {self.align} is not a power of two")
        if self.is_nobits and self.data:
            raise ValueError(f"section {self.name}: a NOBITS section holds no data")

    @property
    def is_nobits(self) -> bool:
        return self.section_type == SectionType.NOBITS

    @property
    def size(self) -> int:
        return self.nobits_size if self.is_nobits else len(self.data)

    @property
    def flags(self) -> int:
        return (
            (SHF_ALLOC if self.alloc else 0)
            | (SHF_EXECINSTR if self.execute else 0)
            | (SHF_WRITE if self.write else 0)
        )

    @property
    def is_loadable(self) -> bool:
        return self.alloc and self.address != 0 and self.size > 0


def nobits_section(name: str, address: int, size: int, *, align: int = 4) -> ElfSection:
    """A writable, zero-initialised section (.bss-like) that takes memory but no file bytes."""
    return ElfSection(
        name, address, nobits_size=size, write=True, section_type=SectionType.NOBITS, align=align
    )


@dataclass(frozen=True)
class ElfSegment:
    """A program header spanning the named sections, which must be in ascending address order.

    `physical_address` (the load address, p_paddr) defaults to the first section's address.
    """

    section_names: tuple[str, ...]
    physical_address: int | None = None
    segment_type: int = PT_LOAD
    readable: bool = True
    writable: bool = False
    executable: bool = False

    @property
    def flags(self) -> int:
        return (
            (PF_R if self.readable else 0)
            | (PF_W if self.writable else 0)
            | (PF_X if self.executable else 0)
        )


@dataclass(frozen=True)
class ElfSymbol:
    """A symbol-table entry; `section` names the section it is defined in (None: absolute)."""

    name: str
    value: int
    size: int = 0
    section: str | None = None
    is_function: bool = False
    is_global: bool = True


@dataclass
class _StringTable:
    """A NUL-separated string table that hands out each string's offset."""

    blob: bytearray = field(default_factory=lambda: bytearray(b"\0"))

    def add(self, text: str) -> int:
        if not text:
            return 0
        offset = len(self.blob)
        self.blob += text.encode() + b"\0"
        return offset


@dataclass
class _PlacedSection:
    section: ElfSection
    name_offset: int
    file_offset: int = 0
    link: int = 0
    info: int = 0
    entry_size: int = 0


def _default_segments(sections: Sequence[ElfSection]) -> list[ElfSegment]:
    return [
        ElfSegment(
            (section.name,),
            writable=section.write,
            executable=section.execute,
        )
        for section in sections
        if section.is_loadable
    ]


def _segment_sections(segment: ElfSegment, by_name: dict[str, ElfSection]) -> list[ElfSection]:
    if not segment.section_names:
        raise ValueError("a segment must name at least one section")
    try:
        members = [by_name[name] for name in segment.section_names]
    except KeyError as missing:
        raise ValueError(f"segment names unknown section {missing}") from None
    for previous, current in pairwise(members):
        if current.address < previous.address + previous.size:
            raise ValueError(
                f"segment sections {previous.name} and {current.name} overlap or are out of order"
            )
        if previous.is_nobits and not current.is_nobits:
            raise ValueError(f"segment puts PROGBITS {current.name} after NOBITS {previous.name}")
    return members


def _symbol_table(
    symbols: Sequence[ElfSymbol], section_index: dict[str, int], names: _StringTable
) -> tuple[bytes, int]:
    """The .symtab bytes and the index of its first global symbol (sh_info)."""
    ordered = sorted(symbols, key=lambda symbol: symbol.is_global)  # locals must come first
    table = bytearray(SYMBOL_SIZE)  # entry 0 is the reserved null symbol
    for symbol in ordered:
        binding = 1 if symbol.is_global else 0
        kind = 2 if symbol.is_function else 1
        if symbol.section is not None and symbol.section not in section_index:
            raise ValueError(f"symbol {symbol.name} names unknown section {symbol.section}")
        shndx = SHN_ABS if symbol.section is None else section_index[symbol.section]
        table += struct.pack(
            "<IIIBBH",
            names.add(symbol.name),
            symbol.value,
            symbol.size,
            (binding << 4) | kind,
            0,
            shndx,
        )
    first_global = 1 + sum(1 for symbol in ordered if not symbol.is_global)
    return bytes(table), first_global


def build_elf(
    machine: int,
    entry: int,
    sections: Sequence[ElfSection],
    segments: Sequence[ElfSegment] | None = None,
    symbols: Sequence[ElfSymbol] | None = None,
    *,
    flags: int = 0,
) -> bytes:
    """An ELF32 LE executable holding `sections`.

    Without `segments`, each loadable section (alloc, non-zero address and size) gets its own
    PT_LOAD program header; pass segments to group sections the way a linker script does.
    """
    by_name = {section.name: section for section in sections}
    if len(by_name) != len(sections):
        raise ValueError("section names must be unique")
    segment_list = list(_default_segments(sections) if segments is None else segments)
    segment_members = [_segment_sections(segment, by_name) for segment in segment_list]
    grouped_list = [member.name for members in segment_members for member in members]
    grouped = set(grouped_list)
    if len(grouped) != len(grouped_list):
        raise ValueError("a section may belong to one segment only")

    names = _StringTable()
    placed = {
        section.name: _PlacedSection(section, names.add(section.name)) for section in sections
    }
    body = _FileBody(ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * len(segment_list))

    # Sections inside a segment keep their relative address distance in the file.
    segment_offsets = []
    for members in segment_members:
        first = members[0]
        start = body.next_offset(first.address, max(member.align for member in members))
        segment_offsets.append(start)
        for member in members:
            placed[member.name].file_offset = start + (member.address - first.address)
            body.put(member.data, placed[member.name].file_offset)
    for section in sections:
        if section.name not in grouped:
            placed[section.name].file_offset = body.append(
                section.data, section.address, section.align
            )

    tables = _symbol_sections(symbols, list(by_name), names) if symbols else []
    shstrtab_name = names.add(".shstrtab")
    tables.append(_PlacedSection(_string_table_section(".shstrtab", names.blob), shstrtab_name))
    for table in tables:
        table.file_offset = body.append(table.section.data, alignment=table.section.align)

    section_headers = [bytes(SECTION_HEADER_SIZE)]  # index 0: the null section
    section_headers += [_section_header(place) for place in [*placed.values(), *tables]]
    section_header_offset = body.append(b"".join(section_headers), alignment=4)
    body.put(
        _elf_header(
            machine, entry, flags, len(segment_list), section_header_offset, len(section_headers)
        ),
        0,
    )
    for index, (segment, members, offset) in enumerate(
        zip(segment_list, segment_members, segment_offsets, strict=True)
    ):
        header = _program_header(segment, members, offset)
        body.put(header, ELF_HEADER_SIZE + index * PROGRAM_HEADER_SIZE)
    return bytes(body.data)


class _FileBody:
    """The growing file image; data is placed at offsets honouring ELF's alignment rule."""

    def __init__(self, reserved: int) -> None:
        self.data = bytearray(reserved)

    def next_offset(self, address: int, alignment: int) -> int:
        """The first free offset whose remainder modulo `alignment` equals the address's."""
        return len(self.data) + (address - len(self.data)) % alignment

    def put(self, chunk: bytes, offset: int) -> None:
        end = offset + len(chunk)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = chunk

    def append(self, chunk: bytes, address: int = 0, alignment: int = 1) -> int:
        offset = self.next_offset(address, alignment)
        self.put(chunk, offset)
        return offset


def _symbol_sections(
    symbols: Sequence[ElfSymbol], section_names: list[str], names: _StringTable
) -> list[_PlacedSection]:
    """.symtab and its .strtab, to sit right after the caller's sections."""
    section_index = {name: index for index, name in enumerate(section_names, start=1)}
    strtab = _StringTable()
    table, first_global = _symbol_table(symbols, section_index, strtab)
    symtab_index = len(section_names) + 1
    symtab = ElfSection(".symtab", 0, table, alloc=False, section_type=SectionType.SYMTAB)
    return [
        _PlacedSection(
            symtab,
            names.add(".symtab"),
            link=symtab_index + 1,
            info=first_global,
            entry_size=SYMBOL_SIZE,
        ),
        _PlacedSection(_string_table_section(".strtab", strtab.blob), names.add(".strtab")),
    ]


def _string_table_section(name: str, blob: bytearray) -> ElfSection:
    return ElfSection(name, 0, bytes(blob), alloc=False, section_type=SectionType.STRTAB, align=1)


def _elf_header(
    machine: int, entry: int, flags: int, segment_count: int, shoff: int, shnum: int
) -> bytes:
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)  # 32-bit, little-endian, version 1
    return ident + struct.pack(
        "<HHIIIIIHHHHHH",
        2,  # ET_EXEC
        machine,
        1,
        entry,
        ELF_HEADER_SIZE if segment_count else 0,
        shoff,
        flags,
        ELF_HEADER_SIZE,
        PROGRAM_HEADER_SIZE,
        segment_count,
        SECTION_HEADER_SIZE,
        shnum,
        shnum - 1,  # .shstrtab is always the last section
    )


def _program_header(segment: ElfSegment, members: list[ElfSection], offset: int) -> bytes:
    first, last = members[0], members[-1]
    memory_size = last.address + last.size - first.address
    file_members = [member for member in members if not member.is_nobits]
    file_size = (
        file_members[-1].address + file_members[-1].size - first.address if file_members else 0
    )
    physical = first.address if segment.physical_address is None else segment.physical_address
    return struct.pack(
        "<IIIIIIII",
        segment.segment_type,
        offset,
        first.address,
        physical,
        file_size,
        memory_size,
        segment.flags,
        max(member.align for member in members),
    )


def _section_header(place: _PlacedSection) -> bytes:
    section = place.section
    return struct.pack(
        "<IIIIIIIIII",
        place.name_offset,
        section.section_type,
        section.flags,
        section.address,
        place.file_offset,
        section.size,
        place.link,
        place.info,
        section.align,
        place.entry_size,
    )


# --- ESP-IDF descriptors -------------------------------------------------------------------------

APP_DESC_MAGIC = 0xABCD5432
APP_DESC_SIZE = 256
APP_DESC_SHA256_OFFSET = 0x90  # app_elf_sha256 inside esp_app_desc_t
BOOTLOADER_DESC_MAGIC = 0x50
BOOTLOADER_DESC_SIZE = 80


def _fixed_text(field_name: str, text: str, size: int) -> bytes:
    encoded = text.encode()
    if len(encoded) > size:
        raise ValueError(f"{field_name} {text!r} is longer than its {size}-byte field")
    return encoded.ljust(size, b"\0")


def app_descriptor(
    *,
    project_name: str,
    version: str,
    idf_version: str,
    date: str,
    time: str,
    secure_version: int = 0,
    app_elf_sha256: bytes = b"",
    min_efuse_blk_rev_full: int = 0,
    max_efuse_blk_rev_full: int = 0,
    mmu_page_size: int = 0,
) -> bytes:
    """The 256-byte esp_app_desc_t that ESP-IDF puts first in an app's DROM (.flash.appdesc).

    `mmu_page_size` is in bytes (0: not recorded); the struct stores its base-2 logarithm.
    `app_elf_sha256` is normally left empty: elf2image fills it in the image.
    """
    if mmu_page_size and mmu_page_size & (mmu_page_size - 1):
        raise ValueError(f"mmu_page_size {mmu_page_size} is not a power of two")
    if len(app_elf_sha256) > 32:
        raise ValueError("app_elf_sha256 holds at most 32 bytes")
    page_size_log2 = mmu_page_size.bit_length() - 1 if mmu_page_size else 0
    descriptor = b"".join(
        [
            struct.pack("<II", APP_DESC_MAGIC, secure_version),
            bytes(8),  # reserv1
            _fixed_text("version", version, 32),
            _fixed_text("project_name", project_name, 32),
            _fixed_text("time", time, 16),
            _fixed_text("date", date, 16),
            _fixed_text("idf_version", idf_version, 32),
            app_elf_sha256.ljust(32, b"\0"),
            struct.pack("<HHB", min_efuse_blk_rev_full, max_efuse_blk_rev_full, page_size_log2),
            bytes(3 + 72),  # reserv3, reserv2
        ]
    )
    assert len(descriptor) == APP_DESC_SIZE
    return descriptor


def bootloader_descriptor(*, version: int, idf_version: str, date_time: str) -> bytes:
    """The 80-byte esp_bootloader_desc_t that starts a bootloader's first DRAM segment."""
    descriptor = b"".join(
        [
            struct.pack("<B3xI", BOOTLOADER_DESC_MAGIC, version),
            _fixed_text("idf_version", idf_version, 32),
            _fixed_text("date_time", date_time, 24),
            bytes(16),  # reserved2
        ]
    )
    assert len(descriptor) == BOOTLOADER_DESC_SIZE
    return descriptor
