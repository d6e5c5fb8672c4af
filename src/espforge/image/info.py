"""image-info: what a firmware image holds, as data (`describe_image`) and as esptool's text.

The text is line for line what esptool 5.6's `image-info` writes to stdout, because scripts
parse it. What esptool writes to stderr (warnings about odd headers or segments) is kept apart,
in the same wording: `ImageReport.warnings`, and `ImageInfoOutput.stderr_lines` for a file.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from espforge.chips import ChipSpec, chip_by_image_id, get_chip
from espforge.errors import EspforgeError, ImageError
from espforge.fileio import read_input
from espforge.image.descriptors import (
    BOOTLOADER_DESC_SIZE,
    AppDescriptor,
    BootloaderDescriptor,
    parse_app_descriptor,
    parse_bootloader_descriptor,
    revision_text,
)
from espforge.image.firmware import (
    WP_PIN_DISABLED,
    ExtendedHeader,
    FirmwareImage,
    ImageSegment,
    detect_image_chip,
    load_image,
)
from espforge.image.intelhex_io import read_intel_hex

AUTO = "auto"
# The regions whose segments esptool searches for the two descriptors.
_APP_DESC_REGION = "DROM"
_BOOTLOADER_DESC_REGION = "DRAM"
_TAB_SIZE = 8
# A rich console-markup tag ("[bold]", "[/]", "[@click]"...) and the backslashes before it.
_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^\[]*?\])")
# Control characters esptool's console (rich) drops from every line it prints.
_DROPPED_CONTROLS = dict.fromkeys((0x07, 0x08, 0x0B, 0x0C, 0x0D))
# Combining and format characters take no terminal cell.
_ZERO_WIDTH_CATEGORIES = ("Mn", "Me", "Mc", "Cf")
_CJK_PLANES = (0x20000, 0x40000)  # supplementary ideographic planes: wide characters


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


# ---------------------------------------------------------------------------------------------
# The report


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


# ---------------------------------------------------------------------------------------------
# The text


def render_report(report: ImageReport) -> str:
    """The report as esptool's image-info prints it for a single image file."""
    lines = [f"Image size: {report.image_size} bytes"]
    if report.chip_detected:
        lines.append(f"Detected image type: {report.chip.chip_name.upper()}")
    lines.extend(_image_lines(report))
    return _as_printed(lines)


def _image_lines(report: ImageReport) -> Iterator[str]:
    """Everything from the header block on: the part printed for every image, merged or not."""
    yield ""
    yield from _titled(f"{report.chip.chip_name} Image Header")
    yield f"Image version: {report.image_version}"
    yield f"Entry point: {report.entry_point:#8x}" if report.entry_point else "Entry point not set"
    yield f"Segments: {len(report.segments)}"
    # An unknown code is a warning on stderr and no line on stdout.
    if report.flash_size_name is not None:
        yield f"Flash size: {report.flash_size_name}"
    if report.flash_freq_name is not None:
        yield f"Flash freq: {report.flash_freq_name}"
    if report.flash_mode_name is not None:
        yield f"Flash mode: {report.flash_mode_name.upper()}"
    if report.extended_header is not None:
        yield ""
        yield from _extended_header_lines(report)
    yield ""
    yield from _segment_lines(report.segments)
    yield ""
    yield from _footer_lines(report)
    if report.app_descriptor is not None:
        yield ""
        yield from _app_lines(report.app_descriptor)
    elif report.bootloader_descriptor is not None:
        yield ""
        yield from _bootloader_lines(report.bootloader_descriptor)


def _titled(title: str) -> Iterator[str]:
    yield title
    yield "=" * len(title)


def _extended_header_lines(report: ImageReport) -> Iterator[str]:
    header = report.extended_header
    assert header is not None
    yield from _titled(f"{report.chip.chip_name} Extended Image Header")
    disabled = " (disabled)" if header.wp_pin == WP_PIN_DISABLED else ""
    yield f"WP pin: {header.wp_pin:#02x}{disabled}"
    yield (
        f"Flash pins drive settings: clk_drv: {header.clk_drv:#02x}, q_drv: {header.q_drv:#02x}, "
        f"d_drv: {header.d_drv:#02x}, cs0_drv: {header.cs_drv:#02x}, "
        f"hd_drv: {header.hd_drv:#02x}, wp_drv: {header.wp_drv:#02x}"
    )
    owner = report.image_chip
    yield f"Chip ID: {header.chip_id} ({owner.chip_name if owner else 'Unknown ID'})"
    yield (
        f"Minimal chip revision: v{revision_text(header.min_rev_full)}, "
        f"(legacy min_rev = {header.min_rev})"
    )
    yield f"Maximal chip revision: v{revision_text(header.max_rev_full)}"


def _segment_lines(segments: tuple[SegmentReport, ...]) -> Iterator[str]:
    yield from _titled("Segments Information")
    yield f"{'Segment':>7}  {'Length':>7}  {'Load addr':>10}  {'File offs':>10}  Memory types"
    yield f"{'-' * 7}  {'-' * 7}  {'-' * 10}  {'-' * 10}  {'-' * 12}"
    for row in segments:
        yield (
            f"{row.index:7}  {row.length:#07x}  {row.load_address:#010x}  "
            f"{row.file_offset:#010x}  {', '.join(row.memory_types)}"
        )


def _footer_lines(report: ImageReport) -> Iterator[str]:
    yield from _titled(f"{report.chip.chip_name} Image Footer")
    verdict = (
        "valid"
        if report.checksum_valid
        else f"invalid - calculated {report.computed_checksum:#04x}"
    )
    yield f"Checksum: {report.stored_checksum:#04x} ({verdict})"
    if report.computed_sha256 is not None:
        verdict = "valid" if report.sha256_valid else "invalid"
        yield f"Validation hash: {report.computed_sha256.hex()} ({verdict})"


def _app_lines(app: AppDescriptor) -> Iterator[str]:
    yield from _titled("Application Information")
    yield f"Project name: {_value(app.project_name)}"
    yield f"App version: {_value(app.version)}"
    yield f"Compile time: {_value(app.compile_date)} {_value(app.compile_time)}"
    yield f"ELF file SHA256: {app.elf_sha256.hex()}"
    yield f"ESP-IDF: {_value(app.idf_version)}"
    yield f"Minimal eFuse block revision: {revision_text(app.min_efuse_block_revision)}"
    yield f"Maximal eFuse block revision: {revision_text(app.max_efuse_block_revision)}"
    if app.mmu_page_size is not None:
        yield f"MMU page size: {app.mmu_page_size // 1024} KB"
    yield f"Secure version: {app.secure_version}"


def _bootloader_lines(bootloader: BootloaderDescriptor) -> Iterator[str]:
    yield from _titled("Bootloader Information")
    yield f"Bootloader version: {bootloader.version}"
    yield f"ESP-IDF: {_value(bootloader.idf_version)}"
    yield f"Compile time: {_value(bootloader.date_time)}"


# esptool prints every line through rich as console markup, with descriptor strings escaped
# first. The round trip is not exact (a lone trailing backslash comes out doubled, a backslash
# before "[" disappears), and rich also drops some control characters and expands tabs. These
# helpers reproduce what ends up on stdout.


def _value(text: str) -> str:
    """A descriptor string escaped for markup the way esptool escapes it."""
    escaped = _MARKUP_TAG.sub(lambda match: match[1] * 2 + "\\" + match[2], text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


def _markup_as_text(markup: str) -> str:
    """The characters rich prints for a line of markup: escapes resolved, style tags dropped.

    A tag that was not escaped can only form across the two values of the "Compile time" line
    (a date holding "[b" and a time holding "]"): rich turns it into a style and prints nothing
    for it. (A closing tag with nothing to close makes esptool fail there; espforge drops it.)
    """
    if "[" not in markup:
        return markup
    pieces = []
    position = 0
    for match in _MARKUP_TAG.finditer(markup):
        pieces.append(_unescape_brackets(markup[position : match.start()]))
        literal_backslashes, tag_is_escaped = divmod(len(match[1]), 2)
        pieces.append("\\" * literal_backslashes)
        if tag_is_escaped:
            pieces.append(match[2])
        position = match.end()
    pieces.append(_unescape_brackets(markup[position:]))
    return "".join(pieces)


def _unescape_brackets(plain: str) -> str:
    return plain.replace("\\[", "[")


def _as_printed(lines: list[str]) -> str:
    return "".join(_console_line(_markup_as_text(line)) + "\n" for line in lines)


def _console_line(line: str) -> str:
    line = line.translate(_DROPPED_CONTROLS)
    if "\t" not in line:
        return line
    return "\n".join(_expand_tabs(part) for part in line.split("\n"))


def _expand_tabs(line: str) -> str:
    """Tabs to spaces up to the next multiple of 8 terminal cells (wide characters count 2)."""
    pieces = []
    column = 0
    for character in line:
        if character == "\t":
            spaces = _TAB_SIZE - column % _TAB_SIZE
            pieces.append(" " * spaces)
            column += spaces
        else:
            pieces.append(character)
            column += _cell_width(character)
    return "".join(pieces)


def _cell_width(character: str) -> int:
    """Terminal cells for one character, as rich counts them (to Python's Unicode tables)."""
    code = ord(character)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return 0
    category = unicodedata.category(character)
    if category in _ZERO_WIDTH_CATEGORIES:
        return 0
    if category == "Cn":  # unassigned in Python's tables: wide only in the two CJK planes
        return 2 if _CJK_PLANES[0] <= code < _CJK_PLANES[1] else 1
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


# ---------------------------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class ImageInfoOutput:
    """What esptool's image-info writes for one file: stdout, and its stderr lines."""

    text: str  # stdout without the program banner; every line ends in a newline
    stderr_lines: tuple[str, ...]  # "WARNING: ..." / "ERROR: ..." lines, in esptool's order
    reports: tuple[ImageReport, ...]  # one per image shown


def inspect_image_file(path: str | os.PathLike[str], chip: str = AUTO) -> ImageInfoOutput:
    """Read the file at `path` as esptool's image-info does.

    An Intel HEX file is read as esptool reads it: one contiguous block is an image; several are
    shown one after another, each headed by its offset and size.
    """
    source = str(path)
    data = _read(path)
    blocks = read_intel_hex(data, source)
    if blocks is None or len(blocks) == 1:
        report = describe_image(data if blocks is None else blocks[0][1], chip, source)
        return ImageInfoOutput(render_report(report), _warning_lines(report), (report,))
    parts = describe_hex_parts(blocks, chip, source)
    stderr_lines: list[str] = []
    for number, part in enumerate(parts, start=1):
        if part.report is None:
            stderr_lines += [
                f"ERROR: Error processing file {number}/{len(parts)}: {part.error}",
                "ERROR: Probably not a valid firmware image (e.g. partition table).",
            ]
        else:
            stderr_lines.extend(_warning_lines(part.report))
    reports = tuple(part.report for part in parts if part.report is not None)
    return ImageInfoOutput(render_hex_parts(parts), tuple(stderr_lines), reports)


def _warning_lines(report: ImageReport) -> tuple[str, ...]:
    return tuple(f"WARNING: {warning}" for warning in report.warnings)


def image_info(path: str | os.PathLike[str], chip: str = AUTO) -> str:
    """What `esptool image-info` prints on stdout for the file at `path` (without its banner)."""
    return inspect_image_file(path, chip).text


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return read_input(path)
    except EspforgeError as exc:  # missing, unreadable: still a bad image argument
        raise ImageError(str(exc)) from None


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


def render_hex_parts(parts: list[HexPart]) -> str:
    """The HEX blocks as esptool's image-info prints a "merged binary"."""
    lines = ["Merged binary image detected. Processing each file individually."]
    for number, part in enumerate(parts, start=1):
        heading = (
            f"Processing file {number}/{len(parts)}, offset: {part.offset:#x}, "
            f"size: {part.size} bytes"
        )
        lines.extend(["", "=" * len(heading), heading, "=" * len(heading)])
        if part.report is None:
            continue  # esptool explains the error on stderr
        if number == 1 and part.report.chip_detected:
            lines.append(f"Detected image type: {part.report.chip.chip_name.upper()}")
        lines.extend(_image_lines(part.report))
    return _as_printed(lines)
