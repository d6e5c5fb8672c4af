"""elf2image's layouts: the image as segment records with a running checksum, the ESP32-family
and ESP8266 v3 layout that aligns flash segments to MMU pages, and the ESP8266 v1 and v2 files."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from itertools import pairwise

from espforge.chips import ChipSpec
from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import ImageError
from espforge.image.elf2image_plan import APP_DESC_SECTION, Piece, Plan
from espforge.image.firmware import (
    CHECKSUM_SEED,
    ESP8266_V2_MAGIC,
    ESP8266_V2_SEGMENT_FIELD,
    IMAGE_MAGIC,
    SEGMENT_HEADER_SIZE,
    SHA256_SIZE,
    ExtendedHeader,
    checksum,
    checksum_position,
    esp8266_crc32,
)

BOOTLOADER_DESC_SECTION = ".dram0.bootdesc"
ESP8266_V3_RODATA_SECTION = ".flash.rodata"  # its first 8 bytes leave room for a segment header
MAX_SEGMENT_LENGTH = 0x1000000
# What a secure-boot signing step appends after the checksum, for --secure-pad (v1) and -v2.
SECURE_PAD_V1_TRAILER = SHA256_SIZE + 4 + 64 + 12
SECURE_PAD_V2_TRAILER = SHA256_SIZE
CHECKSUM_BLOCK = 16


class ImageBuffer:
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
    def for_plan(cls, plan: Plan) -> ImageBuffer:
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
                f"Cannot place SHA256 digest on segment boundary: the ELF SHA-256 at image "
                f"offset {offset:#x} straddles the segment at file offset {self.position:#x}; "
                "choose another --elf-sha256-offset"
            )
        where -= SEGMENT_HEADER_SIZE
        if any(data[where : where + SHA256_SIZE]):
            raise ImageError(
                f"Contents of segment at SHA256 digest offset {offset:#x} are not zero. "
                "Refusing to overwrite. (Check --elf-sha256-offset.)"
            )
        return data[:where] + digest + data[where + SHA256_SIZE :]


class EspLayout:
    """Lays out ESP32-family and ESP8266 v3 images."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.out = ImageBuffer.for_plan(plan)
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

    def _split(self, skip_empty: bool) -> tuple[list[Piece], list[Piece]]:
        ordered = sorted(self.plan.pieces, key=lambda piece: piece.address)
        ordered = [replace(piece) for piece in ordered if piece.data or not skip_empty]
        flash = [piece for piece in ordered if self.plan.is_flash(piece.address)]
        ram = [piece for piece in ordered if not self.plan.is_flash(piece.address)]
        return flash, ram

    def _check_one_segment_per_page(self, flash: list[Piece]) -> None:
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

    def _write_flash(self, piece: Piece, in_checksum: bool = True) -> None:
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

    def _flash_aligned(self, flash: list[Piece], ram: list[Piece]) -> None:
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

    def _ram_first(self, flash: list[Piece], ram: list[Piece]) -> None:
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


def _move_to_front(pieces: list[Piece], name: str) -> None:
    for index, piece in enumerate(pieces):
        if piece.name == name:
            pieces.insert(0, pieces.pop(index))
            return


def _irom_piece(pieces: list[Piece], chip: ChipSpec) -> Piece | None:
    start, end = chip.irom_map
    candidates = [piece for piece in pieces if start <= piece.address < end]
    if len(candidates) > 1:
        raise ImageError(
            f"found {len(candidates)} sections that could be irom0; an ESP8266 image has room "
            "for one (bad ELF file?)"
        )
    return candidates[0] if candidates else None


def _esp8266_rom_image(out: ImageBuffer, pieces: list[Piece]) -> None:
    out.write_header(IMAGE_MAGIC, len(pieces))
    for piece in pieces:
        out.write_segment(piece.address, piece.data)
    out.write_checksum()


def esp8266_v1_images(
    pieces: list[Piece], chip: ChipSpec, out: ImageBuffer
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


def esp8266_v2_image(plan: Plan) -> list[tuple[str, bytes]]:
    irom = _irom_piece(plan.pieces, plan.chip)
    out = ImageBuffer.for_plan(plan)
    out.write_header(ESP8266_V2_MAGIC, ESP8266_V2_SEGMENT_FIELD)
    irom_offset = 0
    if irom is not None:
        irom_offset = irom.address - plan.chip.irom_map[0]
        out.write_segment(0, irom.data + bytes(-len(irom.data) % 16), in_checksum=False)
    _esp8266_rom_image(out, [piece for piece in plan.pieces if piece is not irom])
    out.data += struct.pack("<I", esp8266_crc32(bytes(out.data)))
    return [(f"-{irom_offset & ~(FLASH_SECTOR_SIZE - 1):#07x}.bin", bytes(out.data))]
