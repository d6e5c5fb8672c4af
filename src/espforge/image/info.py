"""image-info: what a firmware image holds, as data (`describe_image`) and as esptool's text.

The text is line for line what esptool 5.6's `image-info` writes to stdout, because scripts
parse it. What esptool writes to stderr (warnings about odd headers or segments) is kept apart,
in the same wording: `ImageReport.warnings`, and `ImageInfoOutput.stderr_lines` for a file.

The data is read in `info_report`, the text written in `info_text`; this module reads files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from espforge.errors import EspforgeError, ImageError
from espforge.fileio import read_input
from espforge.image.info_report import AUTO, ImageReport, describe_hex_parts, describe_image
from espforge.image.info_text import render_hex_parts, render_report
from espforge.image.intelhex_io import read_intel_hex


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
