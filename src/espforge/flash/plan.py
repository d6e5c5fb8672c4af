"""A write plan and its options: which sectors are skipped, erased, programmed and verified.

A plan is made by `espforge.flash.planner.plan_write`, can be shown as text (a dry run: `steps`
and `describe`) and is carried out by `espforge.flash.write.execute_plan`.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from espforge.chips import ChipSpec
from espforge.image.flash_input import align_up
from espforge.image.flash_params import KEEP
from espforge.logs import library_logger

log = library_logger(__name__)

ZLIB_LEVEL = 9  # what esptool compresses with


@dataclass(frozen=True)
class WriteOptions:
    """How to write: esptool's write-flash options."""

    flash_mode: str = KEEP
    flash_freq: str = KEEP
    flash_size: str = KEEP  # keep, detect or a size such as "4MB"
    erase_all: bool = False
    compress: bool | None = None  # None: compress wherever the ROM takes compressed data
    diff_with: Sequence[bytes | None] = ()  # what each input replaced (None: unknown)
    trust_flash_content: bool = False  # with diff_with: an unchanged file is not re-checked
    skip_flashed: bool = False
    # Send only the regions whose flash MD5 differs (changed.py). None: wherever the chip has
    # MD5 and no other shortcut or --erase-all is asked for, for files larger than one region.
    skip_unchanged: bool | None = None
    force: bool = False  # write even what the image compatibility checks refuse
    layout_check: bool = True  # check firmware layouts first (espforge.flash.write_checks)
    encrypt: bool = False  # the chip encrypts every input as it writes it (--encrypt)
    ignore_flash_enc_efuse: bool = False  # write encrypted even where the eFuses say no


class StepKind(Enum):
    ERASE_ALL = "erase all"
    SKIP = "skip"
    ERASE = "erase"
    PROGRAM = "program"
    VERIFY = "verify"


@dataclass(frozen=True)
class PlanStep:
    """One line of a plan: what happens to a range of flash, for which input, and why."""

    kind: StepKind
    address: int
    size: int
    source: str
    detail: str = ""

    def describe(self) -> str:
        span = f"{self.address:#010x}-{self.address + max(self.size, 1) - 1:#010x}"
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.kind.value:<9} {span}  {self.source}{detail}"


@dataclass(frozen=True)
class Transfer:
    """One FLASH_BEGIN (the ROM erases the sectors it covers) followed by the data blocks."""

    address: int  # sector-aligned
    data: bytes  # what flash holds from `address` afterwards
    compress: bool  # send a zlib stream instead of `data` where it is smaller
    changed_sectors: bool = False  # only the sectors --diff-with found changed
    shown_address: int | None = None  # the address to report (the caller's, when unaligned)
    encrypted: bool = False  # the chip encrypts `data` as it programs it
    source: str = ""  # the file it comes from, for messages

    @cached_property
    def compressed(self) -> bytes | None:
        """The zlib stream sent instead of `data`, if any. Made when first needed: a transfer
        kept as a fallback (a whole file behind its changed regions) usually never is."""
        if not self.compress:
            return None
        packed = zlib.compress(self.data, ZLIB_LEVEL)
        if len(packed) < len(self.data):
            return packed
        what = "changed data" if self.changed_sectors else f"file '{self.source}'"
        log.info(
            "Note: Cannot compress %s more than the original size, will flash uncompressed. "
            "Compressed size %d bytes >= uncompressed %d bytes.",
            what,
            len(packed),
            len(self.data),
        )
        return None

    @property
    def payload(self) -> bytes:
        return self.data if self.compressed is None else self.compressed

    @property
    def erase_end(self) -> int:
        return align_up(self.address + len(self.data))

    @property
    def reported_address(self) -> int:
        return self.address if self.shown_address is None else self.shown_address


@dataclass(frozen=True)
class FileWrite:
    """What happens to one input: its final bytes, the transfers that put them there, checks."""

    source: str
    address: int  # where the caller put it
    base_address: int  # sector-aligned start of `image`
    image: bytes  # what flash must hold from `base_address` when done
    transfers: tuple[Transfer, ...] = ()  # empty when skipped
    skip_message: str | None = None  # why nothing is written, as reported
    verify: bool = True  # compare the flash MD5 afterwards
    full_rewrite: Transfer | None = None  # if a changed-sectors write fails verification
    warning: str | None = None
    rest_proven_equal: bool = False  # MD5s just showed the flash outside the transfers is right
    encrypted: bool = False  # flash gets `image` encrypted by the chip (never verified)

    def checks(self) -> tuple[tuple[int, bytes], ...]:
        """The (address, expected bytes) spans whose flash MD5 proves the write: each transfer
        when the rest was just proven equal, else the whole file."""
        if self.rest_proven_equal:
            return tuple((transfer.address, transfer.data) for transfer in self.transfers)
        return ((self.base_address, self.image),)


@dataclass(frozen=True)
class WritePlan:
    chip: ChipSpec
    flash_size: str  # as configured: a size, or "keep"
    flash_end: int | None  # bytes of flash the checks allowed for (None: unknown)
    erase_all: bool
    files: tuple[FileWrite, ...]

    def steps(self) -> list[PlanStep]:
        steps: list[PlanStep] = []
        if self.erase_all:
            size = self.flash_end or 0
            steps.append(PlanStep(StepKind.ERASE_ALL, 0, size, "whole flash"))
        for file in self.files:
            steps.extend(_file_steps(file))
        return steps

    def describe(self) -> str:
        """The plan as text, one step a line."""
        size = "" if self.flash_size == KEEP else f", flash size {self.flash_size}"
        lines = [f"Write plan for {self.chip.chip_name}{size}:"]
        lines += [f"  {step.describe()}" for step in self.steps()]
        return "\n".join(lines)

    @property
    def bytes_to_send(self) -> int:
        return sum(len(transfer.payload) for file in self.files for transfer in file.transfers)


def _file_steps(file: FileWrite) -> list[PlanStep]:
    if file.skip_message is not None:
        return [
            PlanStep(StepKind.SKIP, file.address, len(file.image), file.source, file.skip_message)
        ]
    steps: list[PlanStep] = []
    for transfer in file.transfers:
        erased = transfer.erase_end - transfer.address
        steps.append(PlanStep(StepKind.ERASE, transfer.address, erased, file.source))
        how = (
            "uncompressed"
            if transfer.compressed is None
            else f"sent as {len(transfer.compressed)} compressed"
        )
        what = "changed sectors, " if transfer.changed_sectors else ""
        encrypted = ", encrypted by the chip" if transfer.encrypted else ""
        detail = f"{what}{len(transfer.data)} bytes {how}{encrypted}"
        steps.append(
            PlanStep(StepKind.PROGRAM, transfer.address, len(transfer.data), file.source, detail)
        )
    if file.verify:
        for address, expected in file.checks():
            detail = f"MD5 {hashlib.md5(expected).hexdigest()}"
            if file.full_rewrite is not None:
                detail += "; on mismatch the whole file is rewritten"
            steps.append(PlanStep(StepKind.VERIFY, address, len(expected), file.source, detail))
    return steps
