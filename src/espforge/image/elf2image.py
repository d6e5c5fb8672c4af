"""elf2image: turn an ELF file into the firmware image a chip's bootloader loads.

The output matches esptool 5.6 byte for byte. The layouts:

* ESP32 family: header, extended header, then the flash-mapped segments each placed so that its
  data sits at the same offset within an MMU page in the file as its address does in the address
  space (the gaps are filled with slices of RAM segments or zero padding segments), then the
  remaining RAM segments, the checksum and usually a SHA-256 of everything before it.
* ESP8266 v1: the irom0 section as a raw file of its own, everything else as a ROM image.
* ESP8266 v2: the irom0 section first (padded to 16 bytes), then a v1 image, then a CRC32.
* ESP8266 v3: like the ESP32 layout without the extended header or any alignment padding.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from espforge.chips import ChipSpec, get_chip
from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import ImageError
from espforge.fileio import read_input, write_output
from espforge.image.descriptors import parse_app_descriptor
from espforge.image.elf import ElfFile, ElfSection, parse_elf
from espforge.image.firmware import (
    CHECKSUM_SEED,
    ESP8266_V2_MAGIC,
    ESP8266_V2_SEGMENT_FIELD,
    FLASH_MODES,
    IMAGE_MAGIC,
    MAX_SEGMENTS,
    SEGMENT_HEADER_SIZE,
    SHA256_SIZE,
    ExtendedHeader,
    checksum,
    checksum_position,
    esp8266_crc32,
)
from espforge.logs import library_logger

APP_DESC_SECTION = ".flash.appdesc"
BOOTLOADER_DESC_SECTION = ".dram0.bootdesc"
ESP8266_V3_RODATA_SECTION = ".flash.rodata"  # its first 8 bytes leave room for a segment header
APP_DESC_ELF_SHA256_OFFSET = 0xB0  # where a flash build's app descriptor holds the ELF's SHA-256
MAX_SEGMENT_LENGTH = 0x1000000
# What a secure-boot signing step appends after the checksum, for --secure-pad (v1) and -v2.
SECURE_PAD_V1_TRAILER = SHA256_SIZE + 4 + 64 + 12
SECURE_PAD_V2_TRAILER = SHA256_SIZE
CHECKSUM_BLOCK = 16
# esptool builds ESP8266 v3 images with its ESP32 image class, so their header flash codes and
# the memory types that decide section merging are the ESP32's.
ESP8266_V3_TABLES_CHIP = "esp32"

log = library_logger(__name__)


@dataclass
class Elf2ImageOptions:
    """elf2image's options, named and defaulted as esptool 5.6's command line has them.

    Sizes are in bytes. `flash_freq` None writes frequency code 0, as esptool does.
    """

    version: int = 1
    flash_mode: str = "qio"
    flash_freq: str | None = None
    flash_size: str = "1MB"
    min_rev: int = 0
    min_rev_full: int = 0
    max_rev_full: int = 65535
    secure_pad: bool = False
    secure_pad_v2: bool = False
    elf_sha256_offset: int | None = None
    append_digest: bool = True
    use_segments: bool = False
    flash_mmu_page_size: int | None = None
    pad_to_size: int | None = None
    ram_only_header: bool = False


@dataclass
class _Piece:
    """A section or segment on its way into the image."""

    address: int
    data: bytes
    name: str
    align: int


@dataclass
class _Plan:
    """Everything decided before layout: header fields, pieces, alignment, digest placement."""

    chip: ChipSpec
    tables_chip: ChipSpec  # whose flash codes and memory map the image format uses
    options: Elf2ImageOptions
    entry_point: int
    flash_mode: int
    flash_size_freq: int
    pieces: list[_Piece]
    page_size: int
    elf_sha256: bytes | None
    elf_sha256_offset: int
    append_digest: bool

    def is_flash(self, address: int) -> bool:
        if self.chip.image_format == "esp32":
            return self.chip.is_flash_mapped(address)
        if self.options.version == 3:
            return address > self.chip.irom_map[0]
        return False  # v1 and v2 images map nothing from flash but irom0, handled apart


def build_images(
    elf_data: bytes,
    chip: ChipSpec,
    options: Elf2ImageOptions,
    source: str = "ELF",
) -> list[tuple[str, bytes]]:
    """The images esptool's elf2image makes from `elf_data`, as (name part, bytes) pairs.

    ESP8266 v1 gives one or two pairs whose name parts ("0x00000.bin", "0x10000.bin") follow
    the output prefix. Every other format gives one pair whose name part is what esptool puts
    after the ELF file's stem when no output name is given (".bin", or "-0x10000.bin" for v2).
    The lines esptool prints between "Creating..." and "Successfully created..." are logged, its
    notes at INFO and its warnings at WARNING level.
    """
    plan = _plan(parse_elf(elf_data, source), chip, options, source)
    if chip.image_format == "esp32":
        return [(".bin", _EspLayout(plan).esp32_image())]
    if options.version == 3:
        return [(".bin", _EspLayout(plan).esp8266_v3_image())]
    if options.version == 2:
        return _esp8266_v2_image(plan)
    return _esp8266_v1_images(plan.pieces, chip, _ImageBuffer.for_plan(plan))


def elf2image(
    elf_path: str,
    chip: ChipSpec,
    options: Elf2ImageOptions,
    output: str | None = None,
) -> list[str]:
    """Build the image(s) for `elf_path` and write them; returns the paths written.

    `output` is the file name, or for ESP8266 v1 the prefix of both file names; None picks
    esptool's default names beside the ELF file.
    """
    outputs = build_images(read_input(elf_path), chip, options, elf_path)
    if chip.image_format == "esp8266" and options.version == 1:
        prefix = f"{elf_path}-" if output is None else output
        paths = [prefix + name_part for name_part, _ in outputs]
    elif output is None:
        paths = [os.path.splitext(elf_path)[0] + outputs[0][0]]
    else:
        paths = [output]
    for path, (_, data) in zip(paths, outputs, strict=True):
        write_output(path, data)
    return paths


def _plan(elf: ElfFile, chip: ChipSpec, options: Elf2ImageOptions, source: str) -> _Plan:
    _check_options(chip, options, source)
    esp32_family = chip.image_format == "esp32"
    tables_chip = chip if options.version != 3 else get_chip(ESP8266_V3_TABLES_CHIP)
    plan = _Plan(
        chip=chip,
        tables_chip=tables_chip,
        options=options,
        entry_point=elf.entry_point,
        flash_mode=FLASH_MODES[options.flash_mode],
        flash_size_freq=_flash_size_freq(tables_chip, options),
        pieces=_pieces(elf, options, source),
        page_size=chip.irom_align if esp32_family or options.version == 3 else 0,
        elf_sha256=None,
        elf_sha256_offset=0,
        append_digest=not esp32_family or (options.append_digest and not options.ram_only_header),
    )
    _choose_page_size(plan, elf, source)
    _place_elf_sha256(plan, elf)
    if options.ram_only_header:
        log.info(
            "Image has only RAM segments visible. "
            "ROM segments are hidden and SHA256 digest is not appended."
        )
        plan.pieces.sort(key=lambda piece: piece.address)
    _merge_adjacent(plan)
    if len(plan.pieces) > MAX_SEGMENTS:
        raise ImageError(
            f"{source}: gives {len(plan.pieces)} segments, more than the {MAX_SEGMENTS} an image "
            "holds; this usually means a linker script problem"
        )
    return plan


def _check_options(chip: ChipSpec, options: Elf2ImageOptions, source: str) -> None:
    """Refuse option combinations esptool refuses, or that only make sense for other chips."""
    esp32_family = chip.image_format == "esp32"
    secure_padding = options.secure_pad or options.secure_pad_v2
    checks = (
        (
            options.version not in (1, 2, 3),
            f"image version {options.version} does not exist; choose 1, 2 or 3",
        ),
        (
            esp32_family and options.version != 1,
            f"image versions 2 and 3 are for the ESP8266; drop --version for {chip.chip_name}",
        ),
        (
            esp32_family and options.secure_pad and not chip.secure_boot_v1,
            f"--secure-pad is for Secure Boot v1, which the {chip.chip_name} lacks; "
            "use --secure-pad-v2",
        ),
        (
            options.flash_mode not in FLASH_MODES,
            f"flash mode '{options.flash_mode}' is unknown; choose one of {', '.join(FLASH_MODES)}",
        ),
        (
            not 0 <= options.min_rev <= 0xFF,
            f"--min-rev {options.min_rev} does not fit the header's byte; give 0 to 255",
        ),
        (
            not (0 <= options.min_rev_full <= 0xFFFF and 0 <= options.max_rev_full <= 0xFFFF),
            f"chip revisions {options.min_rev_full} and {options.max_rev_full} must each fit "
            "16 bits; give 0 to 65535 (major * 100 + minor)",
        ),
        (
            options.pad_to_size is not None and options.pad_to_size < 0,
            f"pad size {options.pad_to_size} is negative; give a block size such as 64KB",
        ),
        (
            esp32_family
            and secure_padding
            and (options.ram_only_header or not options.append_digest),
            "secure padding needs the SHA-256 digest appended; "
            "drop --dont-append-digest and --ram-only-header",
        ),
    )
    for failed, problem in checks:
        if failed:
            raise ImageError(f"{source}: {problem}")


def _flash_size_freq(chip: ChipSpec, options: Elf2ImageOptions) -> int:
    if options.flash_size not in chip.flash_sizes:
        raise ImageError(
            f"flash size '{options.flash_size}' is not supported by the {chip.chip_name}; "
            f"choose one of: {', '.join(chip.flash_sizes)}"
        )
    size_code = chip.flash_sizes[options.flash_size]
    if options.flash_freq is None:
        return size_code  # esptool writes frequency code 0, each chip's default
    if options.flash_freq not in chip.flash_frequencies:
        raise ImageError(
            f"flash frequency '{options.flash_freq}' is not supported by the {chip.chip_name}; "
            f"choose one of: {', '.join(chip.flash_frequencies)}"
        )
    return size_code + chip.flash_frequencies[options.flash_freq]


def _pieces(elf: ElfFile, options: Elf2ImageOptions, source: str) -> list[_Piece]:
    if options.use_segments and elf.program_header_count == 0:
        raise ImageError(f"{source}: has no program headers, so --use-segments has nothing to use")
    parts = elf.segments if options.use_segments else elf.sections
    # Every loadable part is padded to a 4-byte length before anything else happens to it.
    return [
        _Piece(part.address, part.data + bytes(-len(part.data) % 4), part.name, part.align)
        for part in parts
    ]


def _first_app_desc(
    parts: Sequence[ElfSection] | Sequence[_Piece], plan: _Plan
) -> ElfSection | _Piece | None:
    """The first app-descriptor section, if it lies in flash (a RAM build has one too)."""
    found = next((part for part in parts if APP_DESC_SECTION in part.name), None)
    return found if found is not None and plan.is_flash(found.address) else None


def _choose_page_size(plan: _Plan, elf: ElfFile, source: str) -> None:
    """The MMU page size flash segments align to: asked for, recorded by the app, or guessed."""
    if plan.options.flash_mmu_page_size:
        _set_page_size(plan, plan.options.flash_mmu_page_size, source)
        return
    supported = plan.chip.mmu_page_sizes if plan.chip.image_format == "esp32" else ()
    app_desc_section = _first_app_desc(elf.sections, plan)
    if app_desc_section is None or not supported:
        return
    descriptor = parse_app_descriptor(app_desc_section.data)
    if descriptor is None:
        return
    if descriptor.mmu_page_size_log2:
        # esptool goes through a whole number of KB, so tiny recorded sizes become 0.
        _set_page_size(plan, (1 << descriptor.mmu_page_size_log2) // 1024 * 1024, source)
        return
    # Older apps record no size: the descriptor sits just after the image, extended and segment
    # headers (32 bytes) into a page, so pick the largest page size that fits that.
    for size in reversed(supported):
        if (app_desc_section.address - 32) % size == 0:
            plan.page_size = size
            log.info("MMU page size not specified, set to %d KB", size // 1024)
            return
    log.warning(
        "App description segment is not aligned to MMU page size, probably linker "
        "script issue or wrong MMU page size. Try to set MMU page size parameter manually."
    )


def _set_page_size(plan: _Plan, size: int, source: str) -> None:
    supported = plan.chip.mmu_page_sizes if plan.chip.image_format == "esp32" else ()
    if not supported:
        if size != plan.page_size:
            fallback = f" Defaulting to {plan.page_size // 1024}KB." if plan.page_size else ""
            log.warning(
                "Changing MMU page size is not supported on %s!%s",
                plan.tables_chip.chip_name,
                fallback,
            )
        return
    if size not in supported:
        choices = ", ".join(f"{choice // 1024}KB" for choice in supported)
        raise ImageError(
            f"{source}: {size} bytes is not a valid {plan.chip.chip_name} MMU page size; "
            f"select from {choices}"
        )
    plan.page_size = size


def _place_elf_sha256(plan: _Plan, elf: ElfFile) -> None:
    if plan.options.elf_sha256_offset:
        plan.elf_sha256, plan.elf_sha256_offset = elf.sha256(), plan.options.elf_sha256_offset
    elif _first_app_desc(plan.pieces, plan) is not None:
        plan.elf_sha256, plan.elf_sha256_offset = elf.sha256(), APP_DESC_ELF_SHA256_OFFSET


def _merge_adjacent(plan: _Plan) -> None:
    """Join each piece that starts where the previous one ends, within one memory type.

    Walks backwards so a run of adjacent pieces folds into its first one. With
    --ram-only-header an ESP32-family piece is first padded up to the next one when that is
    exactly where the next piece's alignment puts it.
    """
    pieces = plan.pieces
    if not pieces:
        return
    pad_for_alignment = plan.chip.image_format == "esp32" and plan.options.ram_only_header
    kept: list[_Piece] = []
    for earlier, later in reversed(list(pairwise(pieces))):
        if pad_for_alignment:
            _pad_to_aligned_successor(earlier, later)
        end = earlier.address + len(earlier.data)
        memory_map = plan.tables_chip
        same_memory = memory_map.region_names(earlier.address) == memory_map.region_names(
            later.address
        )
        if same_memory and later.address == end:
            earlier.data += later.data
        else:
            kept.insert(0, later)
    kept.insert(0, pieces[0])
    merged = len(pieces) - len(kept)
    if merged:
        log.info("Merged %d ELF section%s.", merged, "s" if merged > 1 else "")
    plan.pieces = kept


def _pad_to_aligned_successor(earlier: _Piece, later: _Piece) -> None:
    end = earlier.address + len(earlier.data)
    aligned_end = end + (-end % later.align if later.align > 1 else 0)
    if aligned_end != end and aligned_end == later.address:
        log.info(
            "NOTE: Inserting %d bytes padding between %s and %s",
            aligned_end - end,
            earlier.name,
            later.name,
        )
        earlier.data += bytes(aligned_end - end)


class _ImageBuffer:
    """The image being written: segment records, running checksum, ELF SHA-256 patching."""

    def __init__(
        self,
        flash_mode: int,
        flash_size_freq: int,
        entry_point: int,
        elf_sha256: bytes | None = None,
        elf_sha256_offset: int = 0,
    ) -> None:
        self.header_fields = (flash_mode, flash_size_freq, entry_point)
        self.elf_sha256 = elf_sha256
        self.elf_sha256_offset = elf_sha256_offset
        self.data = bytearray()
        self.checksum = CHECKSUM_SEED

    @classmethod
    def for_plan(cls, plan: _Plan) -> _ImageBuffer:
        return cls(
            plan.flash_mode,
            plan.flash_size_freq,
            plan.entry_point,
            plan.elf_sha256,
            plan.elf_sha256_offset,
        )

    @property
    def position(self) -> int:
        return len(self.data)

    def write_header(self, magic: int, segment_count: int) -> None:
        self.data += struct.pack("<BBBBI", magic, segment_count, *self.header_fields)

    def write_segment(self, address: int, data: bytes, in_checksum: bool = True) -> None:
        data = self._with_elf_sha256(data)
        if len(data) % 4:
            raise ImageError(
                f"segment at {address:#x} is {len(data):#x} bytes long, not a multiple of 4; "
                "check the ELF's section alignment"
            )
        if len(data) >= MAX_SEGMENT_LENGTH:
            raise ImageError(
                f"segment at {address:#x} is {len(data):#x} bytes long, over the 16 MB limit"
            )
        self.data += struct.pack("<II", address, len(data)) + data
        if in_checksum:
            self.checksum = checksum(data, self.checksum)

    def write_checksum(self) -> None:
        self.data += bytes(checksum_position(self.position) - self.position)
        self.data.append(self.checksum)

    def _with_elf_sha256(self, data: bytes) -> bytes:
        """Put the ELF's SHA-256 into the segment whose record covers its image offset."""
        digest, offset = self.elf_sha256, self.elf_sha256_offset
        where = offset - self.position
        if digest is None or not 0 <= where < len(data):
            return data
        if where < SEGMENT_HEADER_SIZE or where + SHA256_SIZE > len(data):
            raise ImageError(
                f"cannot place the ELF SHA-256 at image offset {offset:#x}: it "
                f"straddles the segment at file offset {self.position:#x}; choose another offset"
            )
        where -= SEGMENT_HEADER_SIZE
        if any(data[where : where + SHA256_SIZE]):
            raise ImageError(
                f"image bytes at the ELF SHA-256 offset {offset:#x} are not zero; "
                "refusing to overwrite them (check --elf-sha256-offset)"
            )
        return data[:where] + digest + data[where + SHA256_SIZE :]


class _EspLayout:
    """Lays out ESP32-family and ESP8266 v3 images."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.out = _ImageBuffer.for_plan(plan)
        self.segments_written = 0

    def esp32_image(self) -> bytes:
        plan = self.plan
        self.out.write_header(IMAGE_MAGIC, len(plan.pieces))
        self.out.data += ExtendedHeader(
            chip_id=plan.chip.image_chip_id or 0,
            min_rev=plan.options.min_rev,
            min_rev_full=plan.options.min_rev_full,
            max_rev_full=plan.options.max_rev_full,
            hash_appended=plan.append_digest,
        ).pack()
        flash, ram = self._split(skip_empty=False)
        _move_to_front(flash, APP_DESC_SECTION)
        _move_to_front(ram, BOOTLOADER_DESC_SECTION)
        self._check_one_segment_per_page(flash)
        if plan.options.ram_only_header:
            self._ram_first(flash, ram)
            visible_segments = len(ram)
        else:
            self._flash_aligned(flash, ram)
            self._secure_pad()
            self.out.write_checksum()
            visible_segments = self.segments_written
        return self._finish(visible_segments, pad_to_size=plan.options.pad_to_size)

    def esp8266_v3_image(self) -> bytes:
        self.out.write_header(IMAGE_MAGIC, len(self.plan.pieces))
        flash, ram = self._split(skip_empty=True)
        self._check_one_segment_per_page(flash)
        for piece in flash:
            data = piece.data[8:] if piece.name == ESP8266_V3_RODATA_SECTION else piece.data
            self._write(piece.address, data)
        for piece in ram:
            self._write(piece.address, piece.data)
        self.out.write_checksum()
        return self._finish(self.segments_written, pad_to_size=None)

    def _split(self, skip_empty: bool) -> tuple[list[_Piece], list[_Piece]]:
        ordered = sorted(self.plan.pieces, key=lambda piece: piece.address)
        ordered = [replace(piece) for piece in ordered if piece.data or not skip_empty]
        flash = [piece for piece in ordered if self.plan.is_flash(piece.address)]
        ram = [piece for piece in ordered if not self.plan.is_flash(piece.address)]
        return flash, ram

    def _check_one_segment_per_page(self, flash: list[_Piece]) -> None:
        page = self.plan.page_size
        for previous, piece in pairwise(flash):
            if piece.address // page == previous.address // page:
                raise ImageError(
                    f"segment at {piece.address:#010x} lands in the same {page // 1024} KB flash "
                    f"page as the segment at {previous.address:#010x}, so no image can map both; "
                    "change the linker script to merge those sections"
                )

    def _write(self, address: int, data: bytes, in_checksum: bool = True) -> None:
        self.out.write_segment(address, data, in_checksum)
        self.segments_written += 1

    def _write_flash(self, piece: _Piece, in_checksum: bool = True) -> None:
        tail_min = self.plan.chip.flash_segment_min_page_tail
        end = self.out.position + SEGMENT_HEADER_SIZE + len(piece.data)
        tail = end % self.plan.page_size
        data = piece.data + bytes(tail_min - tail) if tail < tail_min else piece.data
        self._write(piece.address, data, in_checksum)

    def _padding_needed(self, address: int) -> int:
        """Data bytes of a padding segment that put the next segment's data at `address`'s
        offset within its MMU page (0: it is there already)."""
        page = self.plan.page_size
        length = page - self.out.position % page + address % page - SEGMENT_HEADER_SIZE
        if length in (0, page):
            return 0
        length -= SEGMENT_HEADER_SIZE  # the padding segment has a header too
        return length + page if length < 0 else length

    def _flash_aligned(self, flash: list[_Piece], ram: list[_Piece]) -> None:
        while flash:
            padding = self._padding_needed(flash[0].address)
            if padding == 0:
                self._write_flash(flash.pop(0))
            elif ram and padding > SEGMENT_HEADER_SIZE:
                # Fill the gap with the start of a RAM segment rather than zeros.
                filler = ram[0]
                self._write(filler.address, filler.data[:padding])
                filler.address += padding
                filler.data = filler.data[padding:]
                if not filler.data:
                    ram.pop(0)
            else:
                self._write(0, bytes(padding))
        for piece in ram:
            self._write(piece.address, piece.data)

    def _ram_first(self, flash: list[_Piece], ram: list[_Piece]) -> None:
        """RAM segments and the checksum first; flash segments after, out of the ROM's sight."""
        for piece in ram:
            self._write(piece.address, piece.data)
        self.out.write_checksum()
        page = self.plan.page_size
        flash_offset = self.plan.chip.bootloader_flash_offset
        for piece in reversed(flash):
            padding = (piece.address - self.out.position - 2 * SEGMENT_HEADER_SIZE) % page
            if padding < flash_offset:
                padding += page
            self._write(0, bytes(padding - flash_offset), in_checksum=False)
            self._write_flash(piece, in_checksum=False)

    def _secure_pad(self) -> None:
        """Pad so the image, once signed, ends exactly on an MMU page boundary."""
        options = self.plan.options
        if options.secure_pad_v2:
            trailer = SECURE_PAD_V2_TRAILER
        elif options.secure_pad:
            trailer = SECURE_PAD_V1_TRAILER
        else:
            return
        page = self.plan.page_size
        offset_in_page = (self.out.position + SEGMENT_HEADER_SIZE) % page
        self._write(0, bytes((page - offset_in_page - CHECKSUM_BLOCK - trailer) % page))

    def _finish(self, segment_count: int, pad_to_size: int | None) -> bytes:
        image = self.out.data
        if segment_count > 0xFF:
            raise ImageError(f"the image would have {segment_count} segments, more than 255")
        image[1] = segment_count
        if self.plan.append_digest:
            image += hashlib.sha256(image).digest()
        if pad_to_size:
            image += b"\xff" * (-len(image) % pad_to_size)
        return bytes(image)


def _move_to_front(pieces: list[_Piece], name: str) -> None:
    for index, piece in enumerate(pieces):
        if piece.name == name:
            pieces.insert(0, pieces.pop(index))
            return


def _irom_piece(pieces: list[_Piece], chip: ChipSpec) -> _Piece | None:
    start, end = chip.irom_map
    candidates = [piece for piece in pieces if start <= piece.address < end]
    if len(candidates) > 1:
        raise ImageError(
            f"found {len(candidates)} sections that could be irom0; an ESP8266 image has room "
            "for one (bad ELF file?)"
        )
    return candidates[0] if candidates else None


def _esp8266_rom_image(out: _ImageBuffer, pieces: list[_Piece]) -> None:
    out.write_header(IMAGE_MAGIC, len(pieces))
    for piece in pieces:
        out.write_segment(piece.address, piece.data)
    out.write_checksum()


def _esp8266_v1_images(
    pieces: list[_Piece], chip: ChipSpec, out: _ImageBuffer
) -> list[tuple[str, bytes]]:
    irom = _irom_piece(pieces, chip)
    _esp8266_rom_image(out, [piece for piece in pieces if piece is not irom])
    images = [(f"{0:#07x}.bin", bytes(out.data))]
    if irom is not None:
        irom_name = f"{irom.address - chip.irom_map[0]:#07x}.bin"
        if irom_name == images[0][0]:
            raise ImageError(
                "irom0 starts at the very start of the flash map, so its file would overwrite the "
                "main image's; link irom0 at a later address or use --version 2"
            )
        images.append((irom_name, irom.data))
    return images


def _esp8266_v2_image(plan: _Plan) -> list[tuple[str, bytes]]:
    irom = _irom_piece(plan.pieces, plan.chip)
    out = _ImageBuffer.for_plan(plan)
    out.write_header(ESP8266_V2_MAGIC, ESP8266_V2_SEGMENT_FIELD)
    irom_offset = 0
    if irom is not None:
        irom_offset = irom.address - plan.chip.irom_map[0]
        out.write_segment(0, irom.data + bytes(-len(irom.data) % 16), in_checksum=False)
    _esp8266_rom_image(out, [piece for piece in plan.pieces if piece is not irom])
    out.data += struct.pack("<I", esp8266_crc32(bytes(out.data)))
    return [(f"-{irom_offset & ~(FLASH_SECTOR_SIZE - 1):#07x}.bin", bytes(out.data))]


def esp8266_rom_images(
    segments: Sequence[tuple[int, bytes]], chip: ChipSpec, entry_point: int
) -> list[tuple[str, bytes]]:
    """ESP8266 v1 files from raw (load address, data) segments, flash fields all zero.

    Returns (name part, bytes) pairs as `build_images` does for v1: the ROM image and, if a
    segment lies in the irom0 window, that segment's raw file.
    """
    pieces = [
        _Piece(address, data + bytes(-len(data) % 4 if address else 0), "", 4)
        for address, data in segments
    ]
    return _esp8266_v1_images(pieces, chip, _ImageBuffer(0, 0, entry_point))
