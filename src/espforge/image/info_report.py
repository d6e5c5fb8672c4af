"""What a firmware image holds, as data: the header, the segments, checksum and digest, the
app or bootloader descriptor, and the warnings esptool would print about it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from espforge.chips import ChipSpec, chip_by_image_id, get_chip
from espforge.errors import EspforgeError, ImageError
from espforge.image.descriptors import (
    BOOTLOADER_DESC_SIZE,
    AppDescriptor,
    BootloaderDescriptor,
    parse_app_descriptor,
    parse_bootloader_descriptor,
)
from espforge.image.firmware import (
    ExtendedHeader,
    FirmwareImage,
    ImageSegment,
    detect_image_chip,
    load_image,
)

AUTO = "auto"
# The regions whose segments esptool searches for the two descriptors.
_APP_DESC_REGION = "DROM"
_BOOTLOADER_DESC_REGION = "DRAM"


@dataclass(frozen=True)
class SegmentReport:
    """One row of the segment table."""

    index: int
    length: int  # as esptool counts it: data padded to 4 bytes unless the load address is 0
    load_address: int
    file_offset: int  # where the segment's 8-byte header starts
    memory_types: tuple[str, ...]  # the chip's memory-map regions holding the load address
    in_checksum: bool  # False only for the irom0 segment of an ESP8266 v2 image


@dataclass(frozen=True)
class Esp8266V2Report:
    """What an ESP8266 "v2" image adds: its irom0 segment is stored ahead of a v1 image."""

    irom_length: int
    stored_crc32: int | None  # None when the file ends before the CRC
    computed_crc32: int

    @property
    def crc32_valid(self) -> bool:
        return self.stored_crc32 == self.computed_crc32


@dataclass(frozen=True)
class ImageReport:
    """Everything image-info shows about one image, as data."""

    source: str
    image_size: int
    chip: ChipSpec  # the chip the image was read as
    chip_detected: bool  # True when the chip came from the image rather than the caller
    image_version: int  # 1, or 2 for an ESP8266 v2 image
    entry_point: int  # 0: not set
    flash_mode: int
    flash_mode_name: str | None  # "dio"...; None for a code the chip does not know
    flash_size_code: int  # high nibble of header byte 3
    flash_size_name: str | None
    flash_freq_code: int  # low nibble of header byte 3
    flash_freq_name: str | None
    extended_header: ExtendedHeader | None  # ESP32 family only
    segments: tuple[SegmentReport, ...]
    stored_checksum: int
    computed_checksum: int
    stored_sha256: bytes | None  # None when the header says no SHA-256 is appended
    computed_sha256: bytes | None
    app_descriptor: AppDescriptor | None
    bootloader_descriptor: BootloaderDescriptor | None
    esp8266_v2: Esp8266V2Report | None
    warnings: tuple[str, ...]  # what esptool prints on stderr, in its words

    @property
    def checksum_valid(self) -> bool:
        return self.stored_checksum == self.computed_checksum

    @property
    def sha256_valid(self) -> bool | None:
        """None when no SHA-256 is appended."""
        if self.computed_sha256 is None:
            return None
        return self.stored_sha256 == self.computed_sha256

    @property
    def image_chip(self) -> ChipSpec | None:
        """The chip the extended header's chip id names (may differ from `chip` if forced)."""
        if self.extended_header is None:
            return None
        return chip_by_image_id(self.extended_header.chip_id)


@dataclass(frozen=True)
class HexPart:
    """One contiguous block of an Intel HEX file, shown as an image of its own."""

    offset: int
    size: int
    report: ImageReport | None
    error: str | None  # why the block is not an image (then `report` is None)


def describe_image(data: bytes, chip: str = AUTO, source: str = "image") -> ImageReport:
    """Read `data` as a firmware image for `chip` ("auto": the chip the image names)."""
    image = _load_as(data, chip, source)
    return _report(data, image, chip == AUTO, source)


def _load_as(data: bytes, chip: str, source: str) -> FirmwareImage:
    # The magic byte is checked whatever the chip, as esptool does.
    named_by_image = detect_image_chip(data, source)
    spec = named_by_image if chip == AUTO else _chip_named(chip)
    try:
        # Detection reads the low byte of the 16-bit chip id, as esptool's does. A chip the
        # caller names must match the image's id: esptool would print another chip's image
        # under the named chip's headings, which misleads more than it helps.
        image = load_image(data, spec, source, check_chip_id=chip != AUTO)
    except ImageError as exc:
        if named_by_image == spec or "is an image for" in str(exc):
            raise
        raise ImageError(
            f"{exc} It looks like an image for {named_by_image.chip_name}: "
            f"try --chip {named_by_image.name} or auto."
        ) from None
    return image


def _chip_named(name: str) -> ChipSpec:
    try:
        return get_chip(name)
    except EspforgeError as exc:
        raise ImageError(str(exc)) from None


def _report(data: bytes, image: FirmwareImage, detected: bool, source: str) -> ImageReport:
    segments = tuple(_segment_report(index, image, seg) for index, seg in enumerate(image.segments))
    app_desc, bootloader_desc = _descriptors(image, segments, source)
    return ImageReport(
        source=source,
        image_size=len(data),
        chip=image.chip,
        chip_detected=detected,
        image_version=image.version,
        entry_point=image.entry_point,
        flash_mode=image.flash_mode,
        flash_mode_name=image.flash_mode_name,
        flash_size_code=image.flash_size_code,
        flash_size_name=image.flash_size_name,
        flash_freq_code=image.flash_freq_code,
        flash_freq_name=image.flash_freq_name,
        extended_header=image.extended_header,
        segments=segments,
        stored_checksum=image.stored_checksum,
        computed_checksum=image.computed_checksum,
        stored_sha256=image.stored_sha256,
        computed_sha256=image.computed_sha256,
        app_descriptor=app_desc,
        bootloader_descriptor=bootloader_desc,
        esp8266_v2=_v2_report(image),
        warnings=(*image.warnings, *_header_warnings(image)),
    )


def _padded_data(segment: ImageSegment) -> bytes:
    """The segment data as esptool holds it: zero-padded to 4 bytes unless loaded at 0."""
    if segment.load_address == 0:
        return segment.data
    return segment.data + bytes(-len(segment.data) % 4)


def _segment_report(index: int, image: FirmwareImage, segment: ImageSegment) -> SegmentReport:
    return SegmentReport(
        index=index,
        length=len(_padded_data(segment)),
        load_address=segment.load_address,
        file_offset=segment.file_offset,
        memory_types=tuple(image.memory_types(segment)),
        in_checksum=segment.in_checksum,
    )


def _descriptors(
    image: FirmwareImage, segments: tuple[SegmentReport, ...], source: str
) -> tuple[AppDescriptor | None, BootloaderDescriptor | None]:
    """esptool's search: an app descriptor starts the first DROM segment; failing any DROM data,
    a bootloader descriptor starts the last DRAM segment big enough to hold one."""
    app_data: bytes | None = None
    bootloader_data: bytes | None = None
    for segment, row in zip(image.segments, segments, strict=True):
        if _APP_DESC_REGION in row.memory_types and app_data is None:
            app_data = _padded_data(segment)
        elif _BOOTLOADER_DESC_REGION in row.memory_types and row.length >= BOOTLOADER_DESC_SIZE:
            bootloader_data = _padded_data(segment)
    try:
        if app_data:
            return parse_app_descriptor(app_data), None
        if bootloader_data:
            return None, parse_bootloader_descriptor(bootloader_data)
    except ImageError as exc:
        raise ImageError(f"{source}: {exc}") from None
    return None, None


def _v2_report(image: FirmwareImage) -> Esp8266V2Report | None:
    if image.irom_segment is None or image.computed_crc32 is None:
        return None
    return Esp8266V2Report(
        irom_length=image.irom_segment.length,
        stored_crc32=image.stored_crc32,
        computed_crc32=image.computed_crc32,
    )


def _header_warnings(image: FirmwareImage) -> Iterator[str]:
    if image.flash_size_name is None:
        yield f"Invalid flash size ({image.flash_size_code:#02x})"
    if image.flash_freq_name is None:
        yield f"Invalid flash frequency ({image.flash_freq_code:#02x})"
    if image.flash_mode_name is None:
        yield f"Invalid flash mode ({image.flash_mode})"


def describe_hex_parts(blocks: list[tuple[int, bytes]], chip: str, source: str) -> list[HexPart]:
    """Each block of a multi-block HEX file read as an image.

    As esptool does, a block with no image magic is an error entry rather than a failure, and
    once the first block's chip is detected, the other blocks are read as that chip's.
    """
    parts = []
    for index, (offset, data) in enumerate(blocks):
        name = f"{source} (block at {offset:#x})"
        try:
            detect_image_chip(data, name)  # esptool skips a block with no image magic
        except ImageError as exc:
            parts.append(HexPart(offset, len(data), None, str(exc)))
            continue
        detected = chip == AUTO
        report = _report(data, _load_as(data, chip, name), detected, name)
        if index == 0 and detected:
            chip = report.chip.name
        parts.append(HexPart(offset, len(data), report, None))
    return parts
