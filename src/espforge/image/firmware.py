"""Firmware images as the ROM bootloaders read them: a model and a parser for every layout.

Three layouts exist:

* ESP8266 "v1" (ROM) images: an 8-byte common header (magic 0xE9), the segments, then zero
  padding so the XOR checksum byte lands on the last byte of a 16-byte block.
* ESP8266 "v2" images: a first header (magic 0xEA), the irom0 segment stored with load address 0,
  then a complete v1 image, then a CRC32 of everything before it.
* ESP32-family images: the common header, a 16-byte extended header (SPI pins, chip id, revision
  limits, a "SHA-256 appended" flag), segments, the 16-byte-aligned checksum and, when the flag is
  set, a SHA-256 of every byte from the start of the image up to and including the checksum byte.

Parsing never raises anything but `ImageError` for bad input.
"""

from __future__ import annotations

import binascii
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from espforge.chips import ChipSpec, chip_by_image_id, get_chip
from espforge.errors import ImageError

IMAGE_MAGIC = 0xE9
ESP8266_V2_MAGIC = 0xEA
ESP8266_V2_SEGMENT_FIELD = 4  # the count byte of a v2 first header always holds 4
CHECKSUM_SEED = 0xEF
COMMON_HEADER_SIZE = 8
EXTENDED_HEADER_SIZE = 16
SEGMENT_HEADER_SIZE = 8
EXTENDED_HEADER_END = COMMON_HEADER_SIZE + EXTENDED_HEADER_SIZE
SHA256_SIZE = 32
CHECKSUM_ALIGN = 16
MAX_SEGMENTS = 16
WP_PIN_DISABLED = 0xEE
FLASH_MODES = {"qio": 0, "qout": 1, "dio": 2, "dout": 3}

_COMMON_HEADER = struct.Struct("<BBBBI")
_SEGMENT_HEADER = struct.Struct("<II")
# wp pin, three bytes of paired drive strengths, chip id, min_rev, min_rev_full, max_rev_full,
# four reserved bytes, hash-appended flag.
_EXTENDED_HEADER = struct.Struct("<BBBBHBHH4sB")

# ESP8266 segments outside this window (or longer than 64 KB) make esptool warn "suspicious".
_ESP8266_USUAL_RAM = (0x3FFE0000, 0x40200000)
_ESP8266_USUAL_MAX_SEGMENT = 0x10000


def checksum(data: bytes, state: int = CHECKSUM_SEED) -> int:
    """The ROM's one-byte image checksum: every data byte XORed into `state` (seed 0xEF)."""
    # XOR every byte at once by folding the data, read as one big integer, in halves.
    width = 1 << max(len(data) - 1, 0).bit_length()  # bytes, rounded up to a power of two
    folded = int.from_bytes(data, "little")
    while width > 1:
        width //= 2
        folded = (folded >> (8 * width)) ^ (folded & ((1 << (8 * width)) - 1))
    return state ^ folded


def esp8266_crc32(data: bytes) -> int:
    """The CRC32 variant the ESP8266 SDK bootloader checks at the end of a v2 image."""
    crc = binascii.crc32(data) & 0xFFFFFFFF
    return crc ^ 0xFFFFFFFF if crc & 0x80000000 else crc + 1


def checksum_position(end_of_segments: int) -> int:
    """Where the checksum byte goes: the last byte of the 16-byte block the segments end in."""
    return end_of_segments | (CHECKSUM_ALIGN - 1)


@dataclass
class ImageSegment:
    """One segment: `data` is loaded at `load_address`; its 8-byte header is at `file_offset`."""

    load_address: int
    data: bytes
    file_offset: int
    in_checksum: bool = True  # False only for the ESP8266 v2 irom0 segment

    @property
    def length(self) -> int:
        return len(self.data)

    @property
    def data_offset(self) -> int:
        return self.file_offset + SEGMENT_HEADER_SIZE


@dataclass
class ExtendedHeader:
    """The 16 bytes after the common header of an ESP32-family image."""

    wp_pin: int = WP_PIN_DISABLED
    clk_drv: int = 0
    q_drv: int = 0
    d_drv: int = 0
    cs_drv: int = 0
    hd_drv: int = 0
    wp_drv: int = 0
    chip_id: int = 0
    min_rev: int = 0  # legacy revision byte
    min_rev_full: int = 0  # major * 100 + minor
    max_rev_full: int = 0
    reserved: bytes = bytes(4)
    hash_appended: bool = True

    @classmethod
    def unpack(cls, raw: bytes) -> ExtendedHeader:
        (wp_pin, clk_q, d_cs, hd_wp, chip_id, min_rev, min_full, max_full, reserved, flag) = (
            _EXTENDED_HEADER.unpack(raw)
        )
        if flag not in (0, 1):
            raise ValueError(f"hash-appended flag is {flag:#04x}, not 0 or 1")
        return cls(
            wp_pin=wp_pin,
            clk_drv=clk_q & 0xF,
            q_drv=clk_q >> 4,
            d_drv=d_cs & 0xF,
            cs_drv=d_cs >> 4,
            hd_drv=hd_wp & 0xF,
            wp_drv=hd_wp >> 4,
            chip_id=chip_id,
            min_rev=min_rev,
            min_rev_full=min_full,
            max_rev_full=max_full,
            reserved=reserved,
            hash_appended=bool(flag),
        )

    def pack(self) -> bytes:
        try:
            return _EXTENDED_HEADER.pack(
                self.wp_pin,
                (self.clk_drv & 0xF) | (self.q_drv & 0xF) << 4,
                (self.d_drv & 0xF) | (self.cs_drv & 0xF) << 4,
                (self.hd_drv & 0xF) | (self.wp_drv & 0xF) << 4,
                self.chip_id,
                self.min_rev,
                self.min_rev_full,
                self.max_rev_full,
                self.reserved,
                int(self.hash_appended),
            )
        except struct.error:
            raise ImageError(
                f"extended header field out of range (min_rev {self.min_rev} must fit a byte, "
                f"min_rev_full {self.min_rev_full} and max_rev_full {self.max_rev_full} "
                "16 bits): choose smaller revision values"
            ) from None


@dataclass
class FirmwareImage:
    """A parsed firmware image: headers, segments and the integrity values stored and computed.

    `segments` lists every segment in file order as esptool's image-info shows them; for an
    ESP8266 v2 image the first one is the irom0 segment (load address 0, not in the checksum),
    also available as `irom_segment`. `stored_sha256`, `computed_sha256` and `hashed_length` are
    set only when the extended header says a SHA-256 is appended: the hash covers the first
    `hashed_length` bytes (everything up to and including the checksum byte). `stored_sha256` may
    be shorter than 32 bytes when the file is cut short.
    """

    chip: ChipSpec
    version: int  # 1 or 2 for ESP8266 images; 1 for the ESP32 family (what image-info prints)
    magic: int
    segment_count: int  # the count byte of the (last) common header
    entry_point: int
    flash_mode: int
    flash_size_freq: int  # header byte 3: size code in the high nibble, frequency in the low
    segments: list[ImageSegment]
    stored_checksum: int
    checksum_offset: int
    extended_header: ExtendedHeader | None = None
    stored_sha256: bytes | None = None
    computed_sha256: bytes | None = None
    hashed_length: int | None = None
    irom_segment: ImageSegment | None = None  # ESP8266 v2 only
    stored_crc32: int | None = None  # ESP8266 v2 only; None when the file ends before it
    computed_crc32: int | None = None  # ESP8266 v2 only
    warnings: list[str] = field(default_factory=list)  # what esptool warns about while loading

    @property
    def computed_checksum(self) -> int:
        state = CHECKSUM_SEED
        for segment in self.segments:
            if segment.in_checksum:
                state = checksum(segment.data, state)
        return state

    @property
    def checksum_valid(self) -> bool:
        return self.stored_checksum == self.computed_checksum

    @property
    def hash_appended(self) -> bool:
        return self.extended_header is not None and self.extended_header.hash_appended

    @property
    def sha256_valid(self) -> bool | None:
        """None when no SHA-256 is appended."""
        if self.computed_sha256 is None:
            return None
        return self.stored_sha256 == self.computed_sha256

    @property
    def flash_size_code(self) -> int:
        return self.flash_size_freq & 0xF0

    @property
    def flash_freq_code(self) -> int:
        return self.flash_size_freq & 0x0F

    @property
    def flash_size_name(self) -> str | None:
        """The chip's name for the header's size code ("4MB"), or None if it has none."""
        return _first_name_for(self.chip.flash_sizes, self.flash_size_code)

    @property
    def flash_freq_name(self) -> str | None:
        return _first_name_for(self.chip.flash_frequencies, self.flash_freq_code)

    @property
    def flash_mode_name(self) -> str | None:
        return _first_name_for(FLASH_MODES, self.flash_mode)

    def memory_types(self, segment: ImageSegment) -> list[str]:
        """The chip's memory-map regions holding the segment's load address."""
        return self.chip.region_names(segment.load_address)


def _first_name_for(names: Mapping[str, int], code: int) -> str | None:
    return next((name for name, value in names.items() if value == code), None)


class _Reader:
    """Sequential reads over the image bytes that fail with one ImageError line."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.position = 0

    def fail(self, problem: str) -> ImageError:
        return ImageError(f"{self.source}: {problem}; is it a complete firmware image?")

    def take(self, size: int, what: str) -> bytes:
        chunk = self.data[self.position : self.position + size]
        if len(chunk) < size:
            raise self.fail(f"ends at byte {len(self.data)} inside the {what}")
        self.position += size
        return chunk

    def common_header(self, expected_magic: int) -> tuple[int, int, int, int, int]:
        fields = _COMMON_HEADER.unpack(self.take(COMMON_HEADER_SIZE, "image header"))
        if fields[0] != expected_magic:
            raise self.fail(
                f"Invalid firmware image magic={fields[0]:#x} ({expected_magic:#04x} belongs there)"
            )
        return fields

    def segment(self, in_checksum: bool = True) -> ImageSegment:
        offset = self.position
        load_address, length = _SEGMENT_HEADER.unpack(self.take(SEGMENT_HEADER_SIZE, "segment"))
        data = self.data[self.position : self.position + length]
        if len(data) < length:
            raise self.fail(
                f"ends inside segment at {load_address:#x} (header at {offset:#x} "
                f"says {length} bytes, {len(data)} present)"
            )
        self.position += length
        return ImageSegment(load_address, data, offset, in_checksum)

    def checksum_byte(self) -> tuple[int, int]:
        self.position = checksum_position(self.position)
        stored = self.take(1, "checksum byte")[0]
        return stored, self.position - 1


def detect_image_chip(data: bytes, source: str = "image") -> ChipSpec:
    """The chip an image is for: ESP32-family by the extended header's chip id, else ESP8266."""
    if not data:
        raise ImageError(f"{source}: Image is empty.")
    if data[0] not in (IMAGE_MAGIC, ESP8266_V2_MAGIC):
        raise ImageError(
            f"{source}: This is not a valid image (invalid magic number: {data[0]:#x}). "
            "Firmware images start with 0xe9 (0xea for ESP8266 v2)."
        )
    extended = data[COMMON_HEADER_SIZE : COMMON_HEADER_SIZE + EXTENDED_HEADER_SIZE]
    if data[0] == IMAGE_MAGIC and len(extended) == EXTENDED_HEADER_SIZE and extended[-1] in (0, 1):
        chip = chip_by_image_id(extended[4])
        if chip is not None:
            return chip
    return get_chip("esp8266")


def require_image_for(data: bytes, chip: ChipSpec, source: str = "image") -> None:
    """Refuse an image whose header names another chip than `chip`."""
    named = detect_image_chip(data, source)
    if chip.image_format == "esp8266" or data[0] != IMAGE_MAGIC:
        if named == chip:
            return
        owner = named.chip_name
    else:
        if len(data) < EXTENDED_HEADER_END:
            return  # too short to name a chip: the parser says what is missing
        chip_id = int.from_bytes(data[12:14], "little")
        if chip_id == chip.image_chip_id:
            return
        known = chip_by_image_id(chip_id)
        if known is not None:
            owner = f"{known.chip_name} (chip id {chip_id})"
        elif data[EXTENDED_HEADER_END - 1] in (0, 1):
            owner = f"an unknown chip (chip id {chip_id})"
        else:
            owner = named.chip_name  # no extended header at all: an ESP8266 image
    raise ImageError(
        f"{source}: is an image for {owner}, not {chip.chip_name}: "
        f"build it for {chip.chip_name} or choose the matching --chip (or auto)"
    )


def load_image(
    data: bytes,
    chip: ChipSpec | None = None,
    source: str = "image",
    check_chip_id: bool = True,
) -> FirmwareImage:
    """Parse `data` as a firmware image for `chip` (None: detect it from the image).

    With `check_chip_id`, an ESP32-family image whose chip id is not `chip`'s is refused.
    """
    if chip is None:
        chip = detect_image_chip(data, source)
    elif check_chip_id:
        require_image_for(data, chip, source)
    reader = _Reader(data, source)
    if chip.image_format == "esp8266":
        image = _load_esp8266(reader, chip)
    else:
        image = _load_esp32(reader, chip)
    if len(image.segments) > MAX_SEGMENTS:
        raise reader.fail(f"has {len(image.segments)} segments (at most {MAX_SEGMENTS})")
    return image


def _load_esp8266(reader: _Reader, chip: ChipSpec) -> FirmwareImage:
    if not reader.data:
        raise reader.fail("is empty")
    magic = reader.data[0]
    if magic == IMAGE_MAGIC:
        return _load_esp8266_v1(reader, chip)
    if magic == ESP8266_V2_MAGIC:
        return _load_esp8266_v2(reader, chip)
    raise ImageError(
        f"{reader.source}: magic byte {magic:#04x} is not an ESP8266 image's (0xe9 or 0xea)"
    )


def _load_plain_segments(
    reader: _Reader, count: int, warnings: list[str]
) -> tuple[list[ImageSegment], int, int]:
    segments = []
    for _ in range(count):
        segment = reader.segment()
        _warn_if_unusual(segment, warnings)
        segments.append(segment)
    stored, offset = reader.checksum_byte()
    return segments, stored, offset


def _warn_if_unusual(segment: ImageSegment, warnings: list[str]) -> None:
    low, high = _ESP8266_USUAL_RAM
    address, length = segment.load_address, segment.length
    if address > high or address < low or length > _ESP8266_USUAL_MAX_SEGMENT:
        warnings.append(f"Suspicious segment {address:#x}, length {length}")


def _load_esp8266_v1(reader: _Reader, chip: ChipSpec) -> FirmwareImage:
    magic, count, mode, size_freq, entry = reader.common_header(IMAGE_MAGIC)
    warnings: list[str] = []
    segments, stored, offset = _load_plain_segments(reader, count, warnings)
    return FirmwareImage(
        chip, 1, magic, count, entry, mode, size_freq, segments, stored, offset, warnings=warnings
    )


def _load_esp8266_v2(reader: _Reader, chip: ChipSpec) -> FirmwareImage:
    magic, first_count, first_mode, first_size_freq, first_entry = reader.common_header(
        ESP8266_V2_MAGIC
    )
    warnings: list[str] = []
    if first_count != ESP8266_V2_SEGMENT_FIELD:
        warnings.append(f'V2 header has unexpected "segment" count {first_count} (usually 4)')
    irom = reader.segment(in_checksum=False)
    irom.load_address = 0  # stored as 0; where it maps depends on the flash offset
    _, count, mode, size_freq, entry = reader.common_header(IMAGE_MAGIC)
    if first_mode != mode:
        warnings.append(
            f"Flash mode value in first header ({first_mode:#04x}) disagrees with second "
            f"({mode:#04x}). Using second value."
        )
    if first_size_freq != size_freq:
        warnings.append(
            f"Flash size/freq value in first header ({first_size_freq:#04x}) disagrees with "
            f"second ({size_freq:#04x}). Using second value."
        )
    if first_entry != entry:
        warnings.append(
            f"Entrypoint address in first header ({first_entry:#010x}) disagrees with second "
            f"header ({entry:#010x}). Using second value."
        )
    segments, stored, offset = _load_plain_segments(reader, count, warnings)
    crc_bytes = reader.data[offset + 1 : offset + 5]
    return FirmwareImage(
        chip,
        2,
        magic,
        count,
        entry,
        mode,
        size_freq,
        [irom, *segments],
        stored,
        offset,
        irom_segment=irom,
        stored_crc32=int.from_bytes(crc_bytes, "little") if len(crc_bytes) == 4 else None,
        computed_crc32=esp8266_crc32(reader.data[: offset + 1]),
        warnings=warnings,
    )


def _load_esp32(reader: _Reader, chip: ChipSpec) -> FirmwareImage:
    magic, count, mode, size_freq, entry = reader.common_header(IMAGE_MAGIC)
    try:
        extended = ExtendedHeader.unpack(reader.take(EXTENDED_HEADER_SIZE, "extended header"))
    except ValueError as exc:
        raise reader.fail(f"has a bad extended header ({exc})") from None
    segments = [reader.segment() for _ in range(count)]
    stored, offset = reader.checksum_byte()
    image = FirmwareImage(
        chip, 1, magic, count, entry, mode, size_freq, segments, stored, offset, extended
    )
    if extended.hash_appended:
        image.hashed_length = offset + 1
        image.computed_sha256 = hashlib.sha256(reader.data[: offset + 1]).digest()
        image.stored_sha256 = reader.data[offset + 1 : offset + 1 + SHA256_SIZE]
    return image
