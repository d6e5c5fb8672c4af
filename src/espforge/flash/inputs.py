"""The data a write or verify works from: address/file pairs read into bytes, checked to keep apart.

A file is Intel HEX by its content (as esptool decides), and then brings its own addresses:
each contiguous block of it becomes one input. `check_inputs` is the check a write's inputs pass
before any chip is asked anything (the CLI runs it before connecting); `plan_write` takes its
result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import EspforgeError
from espforge.image.flash_input import FlashInput, sector_overlaps
from espforge.image.merge import read_merge_input


class FlashInputError(EspforgeError):
    """Inputs that cannot be flashed as given (overlap, past the end of flash, misaligned)."""


@dataclass(frozen=True)
class WriteInputs:
    """The inputs of one write in the order they are planned, none sharing a flash sector with
    another. Made by `check_inputs`."""

    files: tuple[FlashInput, ...]
    from_encrypt_files: tuple[bool, ...]  # given to --encrypt-files: the chip encrypts it

    def encrypted(self, encrypt_all: bool) -> tuple[bool, ...]:
        """Whether the chip encrypts each file, when `encrypt_all` (--encrypt) says so for all."""
        return tuple(encrypt_all or flag for flag in self.from_encrypt_files)


def check_inputs(
    inputs: Sequence[FlashInput], encrypted_inputs: Sequence[FlashInput] = ()
) -> WriteInputs:
    """The inputs of a write (and those to encrypt, --encrypt-files), refusing an empty write, a
    negative address and two inputs sharing a sector. They keep their order, or go in address
    order when some are to encrypt (as esptool orders them)."""
    tagged = [(item, False) for item in inputs]
    if encrypted_inputs:
        tagged += [(item, True) for item in encrypted_inputs]
        tagged.sort(key=lambda pair: pair[0].address)
    files = tuple(item for item, _ in tagged)
    check_no_overlap(files)
    return WriteInputs(files, tuple(flag for _, flag in tagged))


def check_no_overlap(inputs: Sequence[FlashInput]) -> None:
    """Refuse no inputs at all, a negative address, or any two inputs that share a flash sector.

    Writing erases whole sectors, so a file that shared a sector with another would erase part
    of it. Empty inputs are let through (they are skipped with a warning when written).
    """
    if not inputs:
        raise FlashInputError("no data to write; give pairs of flash address and file")
    ordered = sorted(inputs, key=lambda item: item.address)
    if ordered[0].address < 0:
        raise FlashInputError(f"{ordered[0].source}: address {ordered[0].address:#x} is negative")
    for earlier, later in sector_overlaps(ordered):
        raise FlashInputError(
            f"{later.source}: data at {later.address:#x} overlaps a flash sector of "
            f"{earlier.source}; a write erases whole {FLASH_SECTOR_SIZE:#x}-byte sectors, so "
            "give each file sectors of its own"
        )


def check_fits(inputs: Sequence[FlashInput], flash_end: int, limit_name: str) -> None:
    """Refuse any input that would end past `flash_end` bytes of flash."""
    for item in inputs:
        if item.end > flash_end:
            raise FlashInputError(
                f"{item.source} (length {len(item.data)}) at {item.address:#010x} will not fit "
                f"in the {flash_end} bytes of flash ({limit_name}); use a lower address or a "
                "smaller file"
            )


def read_inputs(pairs: Iterable[tuple[int, str]]) -> list[FlashInput]:
    """The inputs that address/file pairs stand for; a HEX file gives one per block."""
    return [
        FlashInput(address, data, source)
        for given_address, path in pairs
        for address, data, source in read_merge_input(given_address, path)
    ]


def read_previous_files(paths: Sequence[str | None]) -> list[bytes | None]:
    """--diff-with's files as bytes (None for 'skip'); a HEX file stands for each of its blocks."""
    previous: list[bytes | None] = []
    for path in paths:
        if path is None:
            previous.append(None)
        else:
            previous.extend(data for _, data, _ in read_merge_input(0, path))
    return previous
