"""A reader for the ELF32 little-endian files Espressif toolchains produce (Xtensa and RISC-V).

It picks the same parts of the file that esptool's elf2image builds images from:

* sections with a non-zero address and size whose type carries program data (PROGBITS and the
  init/fini/preinit arrays) become `sections`, in section-header order;
* NOBITS sections (.bss and friends) with a non-zero address and size become `nobits_sections`
  (they take no room in an image);
* string tables and zero-address or empty sections are ignored silently, and any other type is
  ignored with a logged warning;
* PT_LOAD program headers with a non-zero physical address and file size become `segments`.

Anything malformed raises `ImageError` naming the file.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from espforge.errors import ImageError
from espforge.logs import library_logger

EM_XTENSA = 0x5E
EM_RISCV = 0xF3
ARCHITECTURES = {EM_XTENSA: "Xtensa", EM_RISCV: "RISC-V"}

SHT_PROGBITS = 0x1
SHT_STRTAB = 0x3
SHT_NOBITS = 0x8
SHT_INIT_ARRAY = 0xE
SHT_FINI_ARRAY = 0xF
SHT_PREINIT_ARRAY = 0x10
PROGRAM_DATA_TYPES = (SHT_PROGBITS, SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY)
PT_LOAD = 0x1

_FILE_HEADER = struct.Struct("<16sHHIIIIIHHHHHH")
_SECTION_HEADER = struct.Struct("<10I")
_PROGRAM_HEADER = struct.Struct("<8I")
PROGRAM_SEGMENT_NAME = "PHDR"  # what a program segment is called where a section name would be

log = library_logger(__name__)


@dataclass
class ElfSection:
    """A section: `data` (empty for NOBITS) belongs at `address`."""

    name: str
    address: int
    data: bytes
    flags: int
    type: int
    align: int


@dataclass
class ElfSegment:
    """A loadable program segment: its file bytes belong at the physical address `address`."""

    address: int
    data: bytes
    flags: int
    align: int
    virtual_address: int
    memory_size: int
    name: str = PROGRAM_SEGMENT_NAME


@dataclass
class ElfFile:
    """The parts of an ELF file that firmware images are built from."""

    data: bytes
    machine: int
    entry_point: int
    sections: list[ElfSection]
    nobits_sections: list[ElfSection]
    segments: list[ElfSegment]
    program_header_count: int

    @property
    def architecture(self) -> str:
        return ARCHITECTURES[self.machine]

    def sha256(self) -> bytes:
        """SHA-256 of the whole file, as embedded in an app descriptor."""
        return hashlib.sha256(self.data).digest()

    def section(self, name: str) -> ElfSection | None:
        return next((section for section in self.sections if section.name == name), None)


def parse_elf(data: bytes, source: str = "ELF") -> ElfFile:
    """Read `data` as an ELF file; `source` names it in errors."""
    return _ElfParser(data, source).parse()


class _ElfParser:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source

    def fail(self, problem: str) -> ImageError:
        return ImageError(f"{self.source}: {problem}; is it an ELF file from an ESP toolchain?")

    def parse(self) -> ElfFile:
        if len(self.data) < _FILE_HEADER.size:
            raise self.fail(f"is {len(self.data)} bytes, too short for an ELF header")
        (ident, _, machine, _, entry, phoff, shoff, _, _, _, phnum, shentsize, shnum, shstrndx) = (
            _FILE_HEADER.unpack_from(self.data)
        )
        if ident[:4] != b"\x7fELF":
            raise self.fail("has invalid ELF magic header")
        if machine not in ARCHITECTURES:
            raise self.fail(
                "does not appear to be an Xtensa or an RISCV ELF image. "
                f"(e_machine = {machine:#06x})"
            )
        if shentsize != _SECTION_HEADER.size:
            raise self.fail(f"has unexpected section header entry size {shentsize:#x} (not 0x28)")
        if shnum == 0:
            raise self.fail("has 0 section headers")
        sections, nobits = self.read_sections(shoff, shnum, shstrndx)
        return ElfFile(
            self.data,
            machine,
            entry,
            sections,
            nobits,
            self.read_segments(phoff, phnum),
            phnum,
        )

    def table(self, offset: int, count: int, entry_size: int, what: str) -> bytes:
        raw = self.data[offset : offset + count * entry_size]
        if not raw:
            raise self.fail(f"has no {what} table at offset {offset:#x}")
        if len(raw) != count * entry_size:
            raise self.fail(f"ends inside the {what} table at offset {offset:#x}")
        return raw

    def file_bytes(self, offset: int, size: int, what: str) -> bytes:
        chunk = self.data[offset : offset + size]
        if len(chunk) != size:
            raise self.fail(f"ends before the {size} bytes of {what} at offset {offset:#x}")
        return chunk

    def read_sections(
        self, offset: int, count: int, names_index: int
    ) -> tuple[list[ElfSection], list[ElfSection]]:
        raw = self.table(offset, count, _SECTION_HEADER.size, "section header")
        headers = list(_SECTION_HEADER.iter_unpack(raw))
        if names_index >= count:
            raise self.fail(f"names section index {names_index} is past the {count} sections")
        names_header = headers[names_index]
        if names_header[1] != SHT_STRTAB:
            log.warning("ELF file has incorrect STRTAB section type %#04x", names_header[1])
        names = self.data[names_header[4] : names_header[4] + names_header[5]]
        sections: list[ElfSection] = []
        nobits: list[ElfSection] = []
        for name_offset, kind, flags, address, data_offset, size, _, _, align, _ in headers:
            if address == 0 or size == 0 or kind == SHT_STRTAB:
                continue
            if kind in PROGRAM_DATA_TYPES:
                name = self.name_at(names, name_offset)
                data = self.file_bytes(data_offset, size, f"section {name}")
                sections.append(ElfSection(name, address, data, flags, kind, align))
            elif kind == SHT_NOBITS:
                name = self.name_at(names, name_offset)
                nobits.append(ElfSection(name, address, b"", flags, kind, align))
            else:
                log.warning("Unknown section type %#04x in ELF file", kind)
        return sections, nobits

    def name_at(self, names: bytes, offset: int) -> str:
        end = names.find(b"\x00", offset)
        if offset >= len(names) or end < 0:
            raise self.fail(f"has a section name at {offset:#x} outside its string table")
        try:
            return names[offset:end].decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"has a section name at {offset:#x} that is not UTF-8") from None

    def read_segments(self, offset: int, count: int) -> list[ElfSegment]:
        if count == 0:
            return []
        raw = self.table(offset, count, _PROGRAM_HEADER.size, "program header")
        segments = []
        for (
            kind,
            data_offset,
            vaddr,
            paddr,
            file_size,
            memory_size,
            flags,
            align,
        ) in _PROGRAM_HEADER.iter_unpack(raw):
            if kind != PT_LOAD or paddr == 0 or file_size == 0:
                continue
            data = self.file_bytes(data_offset, file_size, f"segment at {paddr:#x}")
            segments.append(ElfSegment(paddr, data, flags, align, vaddr, memory_size))
        return segments
