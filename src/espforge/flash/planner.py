"""Planning a write before anything is erased: which sectors are skipped, erased, programmed and
verified.

`plan_write` runs the checks (`espforge.flash.write_checks`, which may refuse the write and tell
the ROM the flash size), then plans each file. Planning a file is pure: it is a function of the
file, the options, the chip's state and what the flash holds, which it asks for as
`FlashQuestion`s (yielded, answered by `espforge.flash.changed.answer_from_flash`), so that the
MD5s are asked for in the order esptool asks them and each comparison is reported among the
planning messages where it belongs.

The decisions follow esptool 5.6's write-flash in ROM mode: a ROM erases in FLASH_BEGIN and can
only start at a sector, so data at an unaligned address is written from the sector start with
0xFF before it; `--diff-with` rewrites only the sectors that changed; `--skip-flashed` leaves
files whose MD5 already matches. Beyond esptool, a file larger than one region is compared with
the flash region by region wherever the chip computes MD5s (`espforge.flash.changed`): only the
differing regions are sent and verified, the rest having just been proven equal.

Encrypted files (--encrypt, --encrypt-files) are sent as plaintext for the chip to encrypt with
its eFuse key: padded to the chip's encrypted-write alignment, always written whole (their flash
holds ciphertext, so no MD5 can match them) and never verified.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.flash.changed import (
    REGION_SIZE,
    FlashAnswer,
    FlashQuestion,
    RegionComparison,
    answer_from_flash,
    runs_of,
)
from espforge.flash.device import Device
from espforge.flash.inputs import WriteInputs
from espforge.flash.plan import FileWrite, Transfer, WriteOptions, WritePlan
from espforge.flash.write_checks import CheckedWrite, ChipState, check_write
from espforge.image.flash_input import FlashInput, align_down, align_up
from espforge.image.flash_params import update_flash_params
from espforge.logs import library_logger

log = library_logger(__name__)

ERASED = b"\xff"
WORD = 4  # the ROM programs whole 32-bit words

FilePlanning = Generator[FlashQuestion, FlashAnswer, FileWrite]


def plan_write(device: Device, inputs: WriteInputs, options: WriteOptions) -> WritePlan:
    """Check `inputs` against the chip and decide every erase, transfer and verification.

    Raises before anything is written when the inputs do not fit the flash or the chip cannot
    take them as asked (`check_inputs` has refused overlapping inputs already).
    """
    checked = check_write(device, inputs, options)
    files = tuple(answer_from_flash(device, planning) for planning in plan_files(checked))
    state = checked.chip_state
    erase_all = checked.options.erase_all
    return WritePlan(state.chip, state.flash_size, state.flash_end, erase_all, files)


def plan_files(checked: CheckedWrite) -> list[FilePlanning]:
    """The planning of each input of a checked write, to be run in order."""
    files, diff_with = checked.inputs.files, checked.options.diff_with
    previous = list(diff_with) + [None] * (len(files) - len(diff_with))
    planner = FilePlanner(checked.chip_state, checked.options, checked.compress)
    return [
        planner.plan(item, old, encrypt)
        for item, old, encrypt in zip(files, previous, checked.encrypted, strict=False)
    ]


class FilePlanner:
    """Plans files for one chip and set of options; asks the flash only through questions."""

    def __init__(self, state: ChipState, options: WriteOptions, compress: bool) -> None:
        self.state = state
        self.options = options
        self.compress = compress

    def plan(self, item: FlashInput, previous: bytes | None, encrypted: bool) -> FilePlanning:
        """What to do with `item` (replacing `previous`, if known): yields the questions the
        decision needs answered and returns the decision."""
        if not item.data:
            return FileWrite(
                item.source,
                item.address,
                item.address,
                b"",
                skip_message="is empty",
                verify=False,
                warning=f"'{item.source}' is empty.",
            )
        pad_to = self.state.chip.flash_encrypted_write_align if encrypted else WORD
        image = self._prepared(item.address, item.data, item.source, pad_to=pad_to)
        base = align_down(item.address)
        image = ERASED * (item.address - base) + image
        whole = self._transfer(base, image, item.source, shown_address=item.address)
        if encrypted:
            return self._plan_encrypted(item, previous, replace(whole, encrypted=True))
        file = FileWrite(item.source, item.address, base, image, verify=self.state.can_verify)
        if self.options.skip_flashed and (yield from _holds(base, image, item.source)):
            message = f"'{item.source}' at {item.address:#010x} already in flash, skipping write."
            return replace(file, skip_message=message, verify=False)
        if previous is None and self._compares_regions(image):
            comparison = yield from _compare_regions(base, image, item.source)
            return self._plan_changed_regions(file, whole, comparison)
        if previous is None:
            return replace(file, transfers=(whole,))
        return (yield from self._plan_changes(file, previous, whole))

    @staticmethod
    def _plan_encrypted(item: FlashInput, previous: bytes | None, whole: Transfer) -> FileWrite:
        """The whole file, encrypted by the chip: nothing to compare with or verify."""
        if previous is not None:
            log.info(
                "Note: Fast reflashing encrypted images is not supported. Will flash the full "
                f"{item.source}."
            )
        return FileWrite(
            item.source,
            item.address,
            whole.address,
            whole.data,
            (whole,),
            verify=False,
            encrypted=True,
        )

    def _compares_regions(self, image: bytes) -> bool:
        """Asked for, or by default for a file that spans more than one region."""
        if self.options.skip_unchanged is None:
            return len(image) > REGION_SIZE
        return self.options.skip_unchanged

    def _plan_changed_regions(
        self, file: FileWrite, whole: Transfer, comparison: RegionComparison
    ) -> FileWrite:
        if not comparison.changed:
            message = f"'{file.source}' at {file.address:#010x} already in flash, skipping write."
            return replace(file, skip_message=message, verify=False)
        transfers = tuple(
            self._transfer(address, data, file.source, changed=True)
            for address, data in comparison.changed
        )
        return replace(file, transfers=transfers, full_rewrite=whole, rest_proven_equal=True)

    def _plan_changes(self, file: FileWrite, previous: bytes, whole: Transfer) -> FilePlanning:
        old = self._prepared(file.address, previous, file.source, quiet=True)
        old = ERASED * (file.address - file.base_address) + old
        changed = changed_sector_runs(old, file.image, file.base_address)
        if changed:
            transfers = tuple(
                self._transfer(address, data, file.source, changed=True)
                for address, data in changed
            )
            return replace(file, transfers=transfers, full_rewrite=whole)
        if self.options.trust_flash_content:
            message = (
                "No changed sectors found and trust flash content mode is enabled, "
                "skipping write and verification."
            )
            return replace(file, skip_message=message, verify=False)
        if self.state.can_verify and (
            yield from _holds(file.base_address, file.image, file.source)
        ):
            message = f"'{file.source}' at {file.address:#010x} verified."
            return replace(file, skip_message=message, verify=False)
        log.info("Note: Data not found in flash, flashing the whole image...")
        return replace(file, transfers=(whole,))

    def _prepared(
        self, address: int, data: bytes, source: str, quiet: bool = False, pad_to: int = WORD
    ) -> bytes:
        """`data` padded to whole words (or `pad_to`), with a bootloader's flash settings
        rewritten."""
        data = data + ERASED * (-len(data) % pad_to)
        if self.state.keeps_flash_settings:
            if not quiet:
                log.warning("Security features enabled, so not changing any flash settings.")
            return data
        return update_flash_params(
            data,
            address,
            self.state.chip,
            self.options.flash_mode,
            self.options.flash_freq,
            self.state.flash_size,
            source,
        )

    def _transfer(
        self,
        address: int,
        data: bytes,
        source: str,
        changed: bool = False,
        shown_address: int | None = None,
    ) -> Transfer:
        return Transfer(address, data, self.compress, changed, shown_address, source=source)


def _holds(address: int, image: bytes, source: str) -> Generator[FlashQuestion, FlashAnswer, bool]:
    """Asks whether the flash holds all of `image` at `address` (one MD5)."""
    answer = yield FlashQuestion(address, image, source)
    return answer is True


def _compare_regions(
    address: int, image: bytes, source: str
) -> Generator[FlashQuestion, FlashAnswer, RegionComparison]:
    """Asks which regions of `image` at `address` the flash does not hold."""
    answer = yield FlashQuestion(address, image, source, by_regions=True)
    assert isinstance(answer, RegionComparison)
    return answer


def changed_sector_runs(old: bytes, new: bytes, start: int) -> list[tuple[int, bytes]]:
    """The runs of consecutive sectors where `new` (at `start`) differs from `old`, with the
    new bytes for each run padded with 0xFF to whole sectors.

    Bytes past the end of either image count as 0xFF; sectors past the end of `new` are not
    compared (they are not being written).
    """
    end = start + len(new)
    first = align_down(start)
    changed: list[int] = []
    for sector in range(first, align_up(end), FLASH_SECTOR_SIZE):
        low, high = max(sector, start), min(sector + FLASH_SECTOR_SIZE, align_up(end))
        old_bytes = _window(old, low - start, high - start)
        new_bytes = _window(new, low - start, high - start)
        if old_bytes != new_bytes:
            changed.append(sector)
    result = []
    for run in runs_of(changed, FLASH_SECTOR_SIZE):
        run_start, run_end = run[0], run[-1] + FLASH_SECTOR_SIZE
        low, high = max(run_start, start), min(run_end, end)
        payload = bytearray(ERASED * (run_end - run_start))
        payload[low - run_start : high - run_start] = new[low - start : high - start]
        result.append((run_start, bytes(payload)))
    return result


def _window(data: bytes, low: int, high: int) -> bytes:
    """data[low:high] with whatever lies past its end read as erased flash."""
    piece = data[low:high]
    return piece + ERASED * (high - low - len(piece))
