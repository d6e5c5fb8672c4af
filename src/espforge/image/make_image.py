"""make-image: an ESP8266 v1 (ROM) image from raw segment files, as esptool's make_image made it.

Like esptool's, `output` is a prefix: the image goes to `<output>0x00000.bin`, and a segment in
the irom0 flash window goes to its own raw file `<output>0x<flash offset>.bin`. The header's flash
mode, size and frequency are left zero.
"""

from __future__ import annotations

from espforge.chips import get_chip
from espforge.errors import ImageError
from espforge.fileio import read_input, write_output
from espforge.image.elf2image import esp8266_rom_images

MAKE_IMAGE_CHIP = "esp8266"  # make-image has only ever built ESP8266 ROM images


def make_image(
    output: str, segment_files: list[str], addresses: list[int], entry_point: int = 0
) -> list[str]:
    """Write the image for `segment_files` loaded at `addresses`; returns the paths written."""
    if not segment_files:
        raise ImageError("make-image: no segments given; pass at least one --segfile/--segaddr")
    if len(segment_files) != len(addresses):
        raise ImageError(
            f"make-image: {len(segment_files)} segment files but {len(addresses)} addresses; "
            "give one --segaddr per --segfile"
        )
    segments = [
        (address, read_input(path)) for path, address in zip(segment_files, addresses, strict=True)
    ]
    outputs = esp8266_rom_images(segments, get_chip(MAKE_IMAGE_CHIP), entry_point)
    paths = []
    for name_part, data in outputs:
        write_output(output + name_part, data)
        paths.append(output + name_part)
    return paths
