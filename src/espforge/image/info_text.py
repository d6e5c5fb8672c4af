"""image-info's text: the report line for line as esptool 5.6 prints it on stdout, including
what its console (rich) does to markup, control characters and tabs."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from espforge.image.descriptors import AppDescriptor, BootloaderDescriptor, revision_text
from espforge.image.firmware import WP_PIN_DISABLED
from espforge.image.info_report import HexPart, ImageReport, SegmentReport

_TAB_SIZE = 8
# A rich console-markup tag ("[bold]", "[/]", "[@click]"...) and the backslashes before it.
_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^\[]*?\])")
# Control characters esptool's console (rich) drops from every line it prints.
_DROPPED_CONTROLS = dict.fromkeys((0x07, 0x08, 0x0B, 0x0C, 0x0D))
# Combining and format characters take no terminal cell.
_ZERO_WIDTH_CATEGORIES = ("Mn", "Me", "Mc", "Cf")
_CJK_PLANES = (0x20000, 0x40000)  # supplementary ideographic planes: wide characters


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
