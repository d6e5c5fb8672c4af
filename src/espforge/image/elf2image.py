"""elf2image: turn an ELF file into the firmware image a chip's bootloader loads.

The output matches esptool 5.6 byte for byte. The layouts:

* ESP32 family: header, extended header, then the flash-mapped segments each placed so that its
  data sits at the same offset within an MMU page in the file as its address does in the address
  space (the gaps are filled with slices of RAM segments or zero padding segments), then the
  remaining RAM segments, the checksum and usually a SHA-256 of everything before it.
* ESP8266 v1: the irom0 section as a raw file of its own, everything else as a ROM image.
* ESP8266 v2: the irom0 section first (padded to 16 bytes), then a v1 image, then a CRC32.
* ESP8266 v3: like the ESP32 layout without the extended header or any alignment padding.

The decisions before layout are in `elf2image_plan`, the layouts in `elf2image_layout`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from espforge.chips import ChipSpec
from espforge.fileio import read_input, write_output
from espforge.image.elf import parse_elf
from espforge.image.elf2image_layout import (
    EspLayout,
    ImageBuffer,
    esp8266_v1_images,
    esp8266_v2_image,
)
from espforge.image.elf2image_plan import Elf2ImageOptions, Piece, plan_image


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
    plan = plan_image(parse_elf(elf_data, source), chip, options, source)
    if chip.image_format == "esp32":
        return [(".bin", EspLayout(plan).esp32_image())]
    if options.version == 3:
        return [(".bin", EspLayout(plan).esp8266_v3_image())]
    if options.version == 2:
        return esp8266_v2_image(plan)
    return esp8266_v1_images(plan.pieces, chip, ImageBuffer.for_plan(plan))


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


def esp8266_rom_images(
    segments: Sequence[tuple[int, bytes]], chip: ChipSpec, entry_point: int
) -> list[tuple[str, bytes]]:
    """ESP8266 v1 files from raw (load address, data) segments, flash fields all zero.

    Returns (name part, bytes) pairs as `build_images` does for v1: the ROM image and, if a
    segment lies in the irom0 window, that segment's raw file.
    """
    pieces = [
        Piece(address, data + bytes(-len(data) % 4 if address else 0), "", 4)
        for address, data in segments
    ]
    return esp8266_v1_images(pieces, chip, ImageBuffer(0, 0, entry_point))
