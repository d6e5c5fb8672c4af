"""Rewrite the SPI flash mode, frequency and size a bootloader image's header asks for.

The ROM reads bytes 2 and 3 of the image at the chip's bootloader offset to set up the flash
before it loads anything, so `merge-bin` and `write-flash` patch those bytes to suit the board.
Only a well-formed image at that exact offset is touched; anything else passes through unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from espforge.chips import ChipSpec
from espforge.errors import ImageError
from espforge.image.firmware import (
    COMMON_HEADER_SIZE,
    FLASH_MODES,
    IMAGE_MAGIC,
    SHA256_SIZE,
    FirmwareImage,
    load_image,
)
from espforge.logs import library_logger

log = library_logger(__name__)

KEEP = "keep"

_SIZE_PATTERN = re.compile(r"(\d+)(KB|MB)")


def flash_size_bytes(flash_size: str) -> int:
    """The byte count a --flash-size name such as "4MB", "256KB" or "2MB-c1" stands for."""
    _refuse_detect(flash_size)
    match = _SIZE_PATTERN.match(flash_size)
    if match is None:
        raise ImageError(f"flash size '{flash_size}' is not a size; give one such as 4MB or 512KB")
    unit = 1024 * 1024 if match.group(2) == "MB" else 1024
    return int(match.group(1)) * unit


def update_flash_params(
    data: bytes,
    address: int,
    chip: ChipSpec,
    flash_mode: str = KEEP,
    flash_freq: str = KEEP,
    flash_size: str = KEEP,
    source: str = "image",
) -> bytes:
    """`data` with the header's flash parameters replaced if it is a bootloader image at `address`.

    "keep" leaves a parameter as the image has it. When the image carries an appended SHA-256
    digest, the digest is recomputed because it covers the header. Data that is not a bootloader
    image for `chip` at its bootloader offset is returned unchanged.
    """
    _refuse_detect(flash_size)
    if len(data) < COMMON_HEADER_SIZE or address != chip.bootloader_flash_offset:
        return data
    if flash_mode == flash_freq == flash_size == KEEP:
        return data
    if data[0] != IMAGE_MAGIC:
        log.warning(
            "%s at %#x does not look like an image, so its flash settings are left as they are.",
            source,
            address,
        )
        return data
    image = parse_bootloader(data, chip, source)
    if image is None:
        log.warning(
            "%s at %#x is not a valid %s image, so its flash settings are left as they are.",
            source,
            address,
            chip.chip_name,
        )
        return data

    header = _patched_header_bytes(data[2], data[3], chip, flash_mode, flash_freq, flash_size)
    if header != data[2:4]:
        log.info("Flash parameters set to %#06x.", int.from_bytes(header, "big"))
        data = data[:2] + header + data[4:]
    if image.hash_appended:
        data = _with_fresh_digest(data, image.checksum_offset + 1)
        log.info("SHA digest in image updated.")
    return data


def parse_bootloader(data: bytes, chip: ChipSpec, source: str) -> FirmwareImage | None:
    """The image at the start of `data`, or None if it is malformed.

    Like esptool, only the structure counts: the checksum's value and the chip id are not checked.
    """
    try:
        return load_image(data, chip, source, check_chip_id=False)
    except ImageError:
        return None


def _refuse_detect(flash_size: str) -> None:
    """ "detect" asks a connected chip; callers with one resolve it to a size before this layer."""
    if flash_size == "detect":
        raise ImageError(
            "flash size 'detect' needs a connected chip; give a size such as 4MB, or 'keep'"
        )


def _patched_header_bytes(
    mode_byte: int,
    size_freq_byte: int,
    chip: ChipSpec,
    flash_mode: str,
    flash_freq: str,
    flash_size: str,
) -> bytes:
    """Header bytes 2 and 3 with each parameter not "keep" replaced by the chip's code for it."""
    if flash_mode != KEEP:
        mode_byte = _code_for(FLASH_MODES, flash_mode, "flash mode", chip)
    freq_bits = size_freq_byte & 0x0F
    if flash_freq != KEEP:
        freq_bits = _code_for(chip.flash_frequencies, flash_freq, "flash frequency", chip)
    size_bits = size_freq_byte & 0xF0
    if flash_size != KEEP:
        size_bits = _code_for(chip.flash_sizes, flash_size, "flash size", chip)
    return bytes((mode_byte, size_bits | freq_bits))


def _code_for(codes: Mapping[str, int], name: str, what: str, chip: ChipSpec) -> int:
    try:
        return codes[name]
    except KeyError:
        raise ImageError(
            f"{what} '{name}' is not supported by the {chip.chip_name}; "
            f"choose one of: {', '.join(codes)}"
        ) from None


def _with_fresh_digest(data: bytes, hashed_length: int) -> bytes:
    """`data` with the SHA-256 digest after its first `hashed_length` bytes recomputed."""
    hashed = data[:hashed_length]
    trailer = data[hashed_length + SHA256_SIZE :]
    return hashed + hashlib.sha256(hashed).digest() + trailer
