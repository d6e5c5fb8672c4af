"""The descriptors ESP-IDF embeds in its binaries, parsed from raw bytes.

An application carries `esp_app_desc_t` (256 bytes) at the start of its first flash-mapped
data (DROM) segment; a second-stage bootloader carries `esp_bootloader_desc_t` (80 bytes) at
the start of a DRAM segment. Both are little-endian, fixed-layout C structs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from espforge.errors import ImageError

APP_DESC_MAGIC = 0xABCD5432
BOOTLOADER_DESC_MAGIC = 0x50

# magic, secure_version, 8 reserved, version, project_name, time, date, idf_ver,
# app_elf_sha256, min/max efuse block revision, log2 of MMU page size, 3 + 72 reserved.
_APP_DESC = struct.Struct("<II8x32s32s16s16s32s32sHHB3x72x")
# magic byte, 3 reserved, version, idf_ver, date_time, 16 reserved.
_BOOTLOADER_DESC = struct.Struct("<B3xI32s24s16x")

APP_DESC_SIZE = _APP_DESC.size
BOOTLOADER_DESC_SIZE = _BOOTLOADER_DESC.size


def _text_field(raw: bytes, struct_name: str, field: str) -> str:
    """A C string field as text; esptool drops every NUL, not only the padding after the end."""
    try:
        return raw.decode("utf-8").replace("\0", "")
    except UnicodeDecodeError:
        raise ImageError(
            f"the {struct_name}'s {field} field is not valid UTF-8; the descriptor is corrupt"
        ) from None


def revision_text(full_revision: int) -> str:
    """A revision stored as major * 100 + minor, written "major.minor" (e.g. 301 -> "3.1")."""
    return f"{full_revision // 100}.{full_revision % 100}"


@dataclass(frozen=True)
class AppDescriptor:
    """esp_app_desc_t: what an ESP-IDF application says about itself."""

    secure_version: int
    version: str
    project_name: str
    compile_time: str
    compile_date: str
    idf_version: str
    elf_sha256: bytes
    min_efuse_block_revision: int  # major * 100 + minor
    max_efuse_block_revision: int
    mmu_page_size_log2: int  # 0 when the application does not record it

    @property
    def mmu_page_size(self) -> int | None:
        """The flash MMU page size in bytes the application was linked for, if recorded."""
        return 1 << self.mmu_page_size_log2 if self.mmu_page_size_log2 else None


@dataclass(frozen=True)
class BootloaderDescriptor:
    """esp_bootloader_desc_t: what an ESP-IDF second-stage bootloader says about itself."""

    version: int
    idf_version: str
    date_time: str


def parse_app_descriptor(data: bytes) -> AppDescriptor | None:
    """The application descriptor at the start of `data`, or None when there is none there."""
    if len(data) < APP_DESC_SIZE:
        return None
    (
        magic,
        secure_version,
        version,
        project_name,
        compile_time,
        compile_date,
        idf_version,
        elf_sha256,
        min_efuse_rev,
        max_efuse_rev,
        mmu_page_size_log2,
    ) = _APP_DESC.unpack_from(data)
    if magic != APP_DESC_MAGIC:
        return None
    name = "application descriptor"
    return AppDescriptor(
        secure_version=secure_version,
        version=_text_field(version, name, "version"),
        project_name=_text_field(project_name, name, "project name"),
        compile_time=_text_field(compile_time, name, "time"),
        compile_date=_text_field(compile_date, name, "date"),
        idf_version=_text_field(idf_version, name, "ESP-IDF version"),
        elf_sha256=elf_sha256,
        min_efuse_block_revision=min_efuse_rev,
        max_efuse_block_revision=max_efuse_rev,
        mmu_page_size_log2=mmu_page_size_log2,
    )


def parse_bootloader_descriptor(data: bytes) -> BootloaderDescriptor | None:
    """The bootloader descriptor at the start of `data`, or None when there is none there."""
    if len(data) < BOOTLOADER_DESC_SIZE:
        return None
    magic, version, idf_version, date_time = _BOOTLOADER_DESC.unpack_from(data)
    if magic != BOOTLOADER_DESC_MAGIC:
        return None
    name = "bootloader descriptor"
    return BootloaderDescriptor(
        version=version,
        idf_version=_text_field(idf_version, name, "ESP-IDF version"),
        date_time=_text_field(date_time, name, "date and time"),
    )
