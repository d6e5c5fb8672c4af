"""merge-bin: combine images meant for several flash addresses into one flashable file.

The output is a raw flash dump (gaps filled with 0xFF, starting at --target-offset), Intel HEX
(only the bytes given, at their flash addresses) or UF2 (for USB mass-storage flashing). A
bootloader at the chip's bootloader offset gets the requested flash parameters written into it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from espforge.chips import ChipSpec
from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import EspforgeError, ImageError
from espforge.fileio import read_input, write_output
from espforge.image.flash_input import FlashInput, sector_overlaps
from espforge.image.flash_params import KEEP, flash_size_bytes, update_flash_params
from espforge.image.intelhex_io import encode_intel_hex, read_intel_hex
from espforge.image.uf2 import check_chunk_size, encode_uf2
from espforge.logs import library_logger

log = library_logger(__name__)

FORMATS = ("raw", "hex", "uf2")
# Inputs may not share a flash sector: flashing one would erase the other's bytes.
ERASED_BYTE = b"\xff"

Region = tuple[int, bytes, str]  # flash address, data, where it came from


@dataclass
class MergeOptions:
    format: str = "raw"  # raw | hex | uf2
    target_offset: int = 0  # the flash address the output file starts at
    pad_to_size: int | None = None  # raw: pad with 0xFF up to this flash address
    flash_mode: str = KEEP
    flash_freq: str = KEEP
    flash_size: str = KEEP
    chunk_size: int | None = None  # uf2: payload bytes per block
    md5_disable: bool = False  # uf2: leave out the per-block MD5


def merge_images(inputs: list[Region], chip: ChipSpec, options: MergeOptions) -> bytes:
    """The merged output, in `options.format`, of (flash address, data, source name) inputs."""
    _check_options(options)
    regions = sorted(inputs, key=lambda region: region[0])
    _check_regions(regions, options)
    patched = [
        (
            address,
            update_flash_params(
                data,
                address,
                chip,
                options.flash_mode,
                options.flash_freq,
                options.flash_size,
                source,
            ),
            source,
        )
        for address, data, source in regions
    ]
    return _ENCODERS[options.format](patched, chip, options)


def merge_bin(
    inputs: list[tuple[int, str]], chip: ChipSpec, output: str, options: MergeOptions
) -> None:
    """Merge the files at their flash addresses into `output`; Intel HEX inputs bring their own."""
    regions = [region for address, path in inputs for region in read_merge_input(address, path)]
    merged = merge_images(regions, chip, options)
    _announce(regions, options)
    write_output(output, merged)
    flashing = (
        "ready to be flashed with any ESP USB Bridge"
        if options.format == "uf2"
        else f"ready to flash to offset {options.target_offset:#x}"
    )
    log.info("Wrote %#x bytes to file '%s', %s.", len(merged), output, flashing)


def _announce(regions: list[Region], options: MergeOptions) -> None:
    """What esptool says before it merges, per output format."""
    if options.format == "uf2":
        for address, _, source in sorted(regions, key=lambda region: region[0]):
            log.info("Adding '%s' at %#x...", source, address)
    elif options.format == "raw":
        log.info(
            "HINT: Consider using --format hex to avoid flashing unused 0xFF padding "
            "between input regions."
        )
    elif len(regions) == 1:
        log.warning(
            "Only one input file specified, output may include additional padding if input "
            "file was previously merged."
        )


def read_merge_input(address: int, path: str) -> list[Region]:
    """The regions one input file contributes: itself at `address`, or each block of a HEX file.

    As with esptool, a file is HEX because of its content (it starts with ':' and parses), not
    its name, and the address given with a HEX file is not used.
    """
    try:
        data = read_input(path)
    except EspforgeError as exc:
        raise ImageError(str(exc)) from None
    hex_regions = read_intel_hex(data, path)
    if hex_regions is None:
        return [(address, data, path)]
    return [(start, block, path) for start, block in hex_regions]


def _check_options(options: MergeOptions) -> None:
    if options.format not in FORMATS:
        raise ImageError(f"unknown output format '{options.format}'; choose raw, hex or uf2")
    if options.format == "uf2" and options.chunk_size is not None:
        check_chunk_size(options.chunk_size, not options.md5_disable)


def _check_regions(regions: list[Region], options: MergeOptions) -> None:
    """Refuse inputs that cannot all be flashed as given: esptool's checks plus the size limit."""
    if not regions:
        raise ImageError("no input files to merge; give pairs of flash address and file")
    first_address, _, first_source = regions[0]
    if first_address < options.target_offset:
        raise ImageError(
            f"{first_source}: address {first_address:#x} is below the output's target offset "
            f"{options.target_offset:#x}; lower --target-offset or move the file"
        )
    inputs = [FlashInput(address, data, source) for address, data, source in regions]
    for earlier, later in sector_overlaps(inputs):
        raise ImageError(
            f"{later.source}: data at {later.address:#x} overlaps the flash sector of "
            f"{earlier.source}; give each file its own {FLASH_SECTOR_SIZE:#x}-byte sectors"
        )
    _check_flash_end(regions, options)


def _check_flash_end(regions: list[Region], options: MergeOptions) -> None:
    limits: list[tuple[int, str]] = []
    if options.flash_size != KEEP:
        limits.append((flash_size_bytes(options.flash_size), f"--flash-size {options.flash_size}"))
    if options.format == "raw" and options.pad_to_size is not None:
        limits.append((options.pad_to_size, f"--pad-to-size {options.pad_to_size:#x}"))
    for limit, option in limits:
        for address, data, source in regions:
            if address + len(data) > limit:
                raise ImageError(
                    f"{source}: data at {address:#x} (length {len(data):#x}) ends past the "
                    f"{limit:#x} bytes of {option}; give a larger size or a lower address"
                )


def _encode_raw(regions: list[Region], _chip: ChipSpec, options: MergeOptions) -> bytes:
    pieces: list[bytes] = []
    length = 0  # bytes of output so far, which starts at the target offset
    for address, data, _source in regions:
        gap = address - options.target_offset - length
        if gap > 0:  # an input that grew (a completed digest) pushes the next one on
            pieces.append(ERASED_BYTE * gap)
            length += gap
        pieces.append(data)
        length += len(data)
    if options.pad_to_size is not None:
        pieces.append(ERASED_BYTE * max(0, options.pad_to_size - options.target_offset - length))
    return b"".join(pieces)


def _encode_hex(regions: list[Region], _chip: ChipSpec, _options: MergeOptions) -> bytes:
    return encode_intel_hex((address, data) for address, data, _source in regions)


def _encode_uf2(regions: list[Region], chip: ChipSpec, options: MergeOptions) -> bytes:
    return encode_uf2(
        ((address, data) for address, data, _source in regions),
        chip.uf2_family_id,
        options.chunk_size,
        md5_enabled=not options.md5_disable,
    )


_ENCODERS: dict[str, Callable[[list[Region], ChipSpec, MergeOptions], bytes]] = {
    "raw": _encode_raw,
    "hex": _encode_hex,
    "uf2": _encode_uf2,
}
