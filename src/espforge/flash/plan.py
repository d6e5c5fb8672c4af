"""A write, planned before anything is erased: which sectors are skipped, erased, programmed and
verified, with every check that can refuse the write done while planning.

Planning may ask the chip questions (flash id, MD5 of what is already there) and tells the ROM
the flash size, but never erases or programs. A plan can be shown (a dry run) and then carried
out by `espforge.flash.write.execute_plan`.

The decisions follow esptool 5.6's write-flash in ROM mode: a ROM erases in FLASH_BEGIN and can
only start at a sector, so data at an unaligned address is written from the sector start with
0xFF before it; `--diff-with` rewrites only the sectors that changed; `--skip-flashed` leaves
files whose MD5 already matches. Beyond esptool, a file larger than one region is compared with
the flash region by region wherever the chip computes MD5s (`espforge.flash.changed`): only the
differing regions are sent and verified, the rest having just been proven equal.

Encrypted files (--encrypt, --encrypt-files) are sent as plaintext for the chip to encrypt with
its eFuse key, after esptool's checks of those eFuses: padded to the chip's encrypted-write
alignment, always written whole (their flash holds ciphertext, so no MD5 can match them) and
never verified.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property

from espforge.chips import ChipSpec
from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.efuse.flash_key import plaintext_writes_refused, read_flash_key
from espforge.efuse.state import EfuseState
from espforge.efuse.table import load_table
from espforge.errors import EspforgeError, ImageError, NotSupportedError
from espforge.flash.changed import REGION_SIZE, compare_regions
from espforge.flash.device import ROM_ADDRESS_LIMIT, Device
from espforge.flash.erase import check_security_allows_erase
from espforge.flash.inputs import (
    FlashInput,
    FlashInputError,
    align_down,
    align_up,
    check_fits,
    check_layout,
)
from espforge.flash.layout import check_firmware_layout
from espforge.image.firmware import ExtendedHeader, load_image
from espforge.image.flash_params import KEEP, flash_size_bytes, update_flash_params
from espforge.logs import library_logger

log = library_logger(__name__)

ERASED = b"\xff"
CRYPT_CONFIG_ALL = 0xF  # the ESP32 FLASH_CRYPT_CONFIG esptool expects: every key bit tweaked
WORD = 4  # the ROM programs whole 32-bit words
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
    layout_check: bool = True  # check firmware layouts first (espforge.flash.layout)
    encrypt: bool = False  # the chip encrypts every input as it writes it (--encrypt)
    encrypted_inputs: Sequence[FlashInput] = ()  # more inputs, to encrypt (--encrypt-files)
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
    notes: tuple[str, ...] = field(default=())

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


# ---------------------------------------------------------------------- planning


def plan_write(device: Device, inputs: Sequence[FlashInput], options: WriteOptions) -> WritePlan:
    """Check `inputs` against the chip and decide every erase, transfer and verification.

    Raises before anything is written when the inputs overlap, do not fit the flash, or the
    chip cannot take them as asked.
    """
    inputs, encrypted = _tag_encrypted(inputs, options)
    check_layout(inputs)
    check_fits(inputs, ROM_ADDRESS_LIMIT, "the ROM addresses 16MB at most")
    if any(encrypted):
        _check_encryption_possible(
            device, [i for i, e in zip(inputs, encrypted, strict=True) if e], options
        )
    chip = device.chip
    compress = _choose_compression(device, options.compress)
    options = _drop_unusable_shortcuts(device, options)
    if not options.force and chip.image_chip_id is not None and not device.secure_download_mode:
        _check_images_suit_chip(device, inputs)
    if not any(encrypted):  # esptool makes this check only when nothing is to be encrypted
        _refuse_plaintext_over_encryption(device, options)

    flash_size = device.configure_flash_size(options.flash_size)
    flash_end, limit_name = _usable_flash_end(device, flash_size)
    if flash_end is not None:
        check_fits(inputs, flash_end, limit_name)
    if options.layout_check:
        check_firmware_layout(device, inputs, flash_end, options.force)
    if options.erase_all:
        _check_whole_erase_possible(device, flash_end, options.force)

    keep_settings = device.secure_download_mode or device.secure_boot_enabled()
    previous = list(options.diff_with) + [None] * (len(inputs) - len(options.diff_with))
    planner = _FilePlanner(device, options, flash_size, compress, keep_settings)
    files = tuple(
        planner.plan(item, old, encrypt)
        for item, old, encrypt in zip(inputs, previous, encrypted, strict=False)
    )
    return WritePlan(chip, flash_size, flash_end, options.erase_all, files)


def _tag_encrypted(
    inputs: Sequence[FlashInput], options: WriteOptions
) -> tuple[list[FlashInput], list[bool]]:
    """All inputs, in address order when --encrypt-files adds some (as esptool orders them),
    each with whether the chip is to encrypt it."""
    tagged = [(item, options.encrypt) for item in inputs]
    if options.encrypted_inputs:
        tagged += [(item, True) for item in options.encrypted_inputs]
        tagged.sort(key=lambda pair: pair[0].address)
    return [item for item, _ in tagged], [encrypt for _, encrypt in tagged]


def _check_encryption_possible(
    device: Device, inputs: Sequence[FlashInput], options: WriteOptions
) -> None:
    """esptool's checks before an encrypted write: the chip and loader must encrypt, and the
    eFuses must hold a key and allow it, unless --ignore-flash-enc-efuse."""
    chip = device.chip
    if not chip.flash_encryption:
        raise NotSupportedError(f"{chip.chip_name} does not support encrypted flashing.")
    if not device.loader.dialect.begin_encrypt_word:
        raise NotSupportedError(
            f"{chip.chip_name} ROM bootloader does not support encrypted writes. Encrypted "
            "writing is only supported by the flasher stub. Do not use --no-stub when writing "
            "encrypted data."
        )
    # Secure Download Mode hides the eFuses: the chip is trusted to have a key.
    can_write = device.secure_download_mode or _efuses_allow_encryption(device)
    align = chip.flash_encrypted_write_align
    for item in inputs:
        if item.address % align:
            log.warning(
                f"'{item.source}' (address {item.address:#x}) is not {align} byte aligned, "
                "can't flash encrypted."
            )
            can_write = False
    if not can_write and not options.ignore_flash_enc_efuse:
        raise EspforgeError(
            "Can't perform encrypted flash write, consult Flash Encryption documentation for "
            "more information."
        )


def _choose_compression(device: Device, requested: bool | None) -> bool:
    if requested is None:
        return device.can_compress
    if requested and not device.can_compress:
        raise NotSupportedError(
            f"the {device.chip.chip_name} ROM cannot take compressed data; write without "
            "--compress, or use the flasher stub (--stub-file or a stub directory)"
        )
    return requested


def _efuses_allow_encryption(device: Device) -> bool:
    """Whether the eFuses hold a key and the settings esptool expects, saying what is amiss;
    a chip whose eFuses turn download-mode encryption off is refused outright."""
    table = load_table(device.chip.name)
    key = read_flash_key(EfuseState.read(table, device.loader))
    if key.download_encryption_disabled:
        raise EspforgeError(
            "This chip has encrypt functionality in UART download mode disabled. This is "
            "the Flash Encryption configuration for Production mode instead of Development "
            "mode."
        )
    allowed = True
    if not key.aes_xts and key.crypt_config not in (None, CRYPT_CONFIG_ALL):
        log.info(f"Unexpected FLASH_CRYPT_CONFIG value: {key.crypt_config:#x}")
        allowed = False
    if not key.programmed:
        log.info("Flash encryption key is not programmed.")
        allowed = False
    return allowed


def _drop_unusable_shortcuts(device: Device, options: WriteOptions) -> WriteOptions:
    """--diff-with and --skip-flashed need the flash MD5; say so when it cannot be had."""
    reason = None
    if options.erase_all:
        reason = "enabled erase-all"
    elif options.encrypt:
        reason = "enabled encryption"
    elif not device.can_md5:
        reason = f"{device.chip.chip_name} in ROM bootloader"
    elif device.secure_download_mode:
        reason = "enabled secure download mode"
    diff_with, skip_flashed = options.diff_with, options.skip_flashed
    if reason and any(old is not None for old in diff_with):
        log.info(
            "Note: Fast reflashing of changed data sectors is not supported with %s. "
            "Will flash all data.",
            reason,
        )
        diff_with = ()
    if reason and skip_flashed:
        log.info(
            "Note: Skipping flashing of already flashed content is not supported with %s. "
            "Will flash all data.",
            reason,
        )
        skip_flashed = False
    skip_unchanged = options.skip_unchanged
    if reason and skip_unchanged:
        log.info(
            "Note: Skipping unchanged regions is not supported with %s. Will flash all data.",
            reason,
        )
    if reason or (skip_unchanged is None and (options.diff_with or skip_flashed)):
        skip_unchanged = False  # by default, other shortcuts keep esptool's meaning
    trust = options.trust_flash_content and any(old is not None for old in diff_with)
    return replace(
        options,
        diff_with=diff_with,
        trust_flash_content=trust,
        skip_flashed=skip_flashed,
        skip_unchanged=skip_unchanged,
    )


def _check_images_suit_chip(device: Device, inputs: Sequence[FlashInput]) -> None:
    """An image built for another chip or revision: refused as the bootloader, noted elsewhere."""
    for item in inputs:
        problem = image_incompatibility(device, item.data, item.source)
        if problem is None:
            continue
        if item.address == device.chip.bootloader_flash_offset:
            raise FlashInputError(f"{problem}. Use --force to flash anyway.")
        log.info("Note: %s", problem)


def image_incompatibility(device: Device, data: bytes, source: str) -> str | None:
    """Why an image cannot run on the connected chip (another chip's, or a revision it does
    not support), or None when it can or `data` is not an image."""
    chip = device.chip
    try:
        image = load_image(data, chip, source, check_chip_id=False)
    except ImageError:
        return None  # not an image: plain data is not checked
    header = image.extended_header
    if header is None:
        return None
    if header.chip_id != chip.image_chip_id:
        return f"'{source}' is not an {chip.chip_name} image"
    if header.max_rev_full == 0 or (header.min_rev_full == 0 and header.max_rev_full == 0xFFFF):
        return None  # no full-revision requirement (legacy min_rev is not checked)
    major, minor = device.loader.chip_revision()
    revision = major * 100 + minor
    if header.min_rev_full <= revision <= header.max_rev_full:
        return None
    return (
        f"'{source}' requires chip revision {_revision_range(header)} "
        f"(this chip is revision v{major}.{minor})"
    )


def _revision_range(header: ExtendedHeader) -> str:
    low, high = header.min_rev_full, header.max_rev_full
    if high == 0xFFFF:
        return f"v{low // 100}.{low % 100} or higher"
    if low == 0:
        return f"v{high // 100}.{high % 100} or lower"
    return f"in range v{low // 100}.{low % 100} - v{high // 100}.{high % 100}"


def _check_whole_erase_possible(device: Device, flash_end: int | None, force: bool) -> None:
    device.refuse_in_secure_download_mode("Erasing the whole flash (--erase-all)")
    check_security_allows_erase(device, force)
    if flash_end is None:
        raise EspforgeError(
            "the flash size is unknown, so --erase-all cannot tell how much to erase: give "
            "--flash-size"
        )


def _refuse_plaintext_over_encryption(device: Device, options: WriteOptions) -> None:
    if options.force or not device.chip.flash_encryption:
        return
    if device.secure_download_mode:
        if device.flash_encryption_enabled():
            raise EspforgeError(
                "Detected flash encryption and secure download mode enabled: flashing a "
                "plaintext binary may brick your device! Use --force to override."
            )
    elif plaintext_writes_refused(load_table(device.chip.name), device.loader):
        raise EspforgeError(
            "Detected flash encryption enabled and download manual encrypt disabled: data "
            "must be encrypted appropriately before flashing, and flashing plaintext data may "
            "brick your device! Write data encrypted beforehand (espsecure "
            "encrypt-flash-data) with --force."
        )


def _usable_flash_end(device: Device, flash_size: str) -> tuple[int | None, str]:
    """The bytes of flash a write may use (the size asked for, capped by the size detected),
    and how to name that limit in a message."""
    limits: list[tuple[int, str]] = []
    if flash_size != KEEP:
        limits.append((flash_size_bytes(flash_size), f"flash size {flash_size}"))
    if not device.secure_download_mode:
        detected = device.detected_flash_size()
        if detected is not None:
            limits.append((flash_size_bytes(detected), f"detected flash size {detected}"))
            if flash_size != KEEP and flash_size_bytes(flash_size) > flash_size_bytes(detected):
                log.warning(
                    f"Set flash_size {flash_size} is larger than the available flash size of "
                    f"{detected}."
                )
    if not limits:
        return None, ""
    return min(limits)


class _FilePlanner:
    def __init__(
        self,
        device: Device,
        options: WriteOptions,
        flash_size: str,
        compress: bool,
        keep_settings: bool,
    ) -> None:
        self.device = device
        self.options = options
        self.flash_size = flash_size
        self.compress = compress
        self.keep_settings = keep_settings
        self.can_verify = device.can_md5 and not device.secure_download_mode

    def plan(self, item: FlashInput, previous: bytes | None, encrypted: bool = False) -> FileWrite:
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
        pad_to = self.device.chip.flash_encrypted_write_align if encrypted else WORD
        image = self._prepared(item.address, item.data, item.source, pad_to=pad_to)
        base = align_down(item.address)
        image = ERASED * (item.address - base) + image
        whole = self._transfer(base, image, item.source, shown_address=item.address)
        if encrypted:
            return self._plan_encrypted(item, previous, replace(whole, encrypted=True))
        file = FileWrite(item.source, item.address, base, image, verify=self.can_verify)
        if self.options.skip_flashed and self._already_in_flash(base, image):
            message = f"'{item.source}' at {item.address:#010x} already in flash, skipping write."
            return replace(file, skip_message=message, verify=False)
        if previous is None and self._compares_regions(image):
            return self._plan_changed_regions(file, whole)
        if previous is None:
            return replace(file, transfers=(whole,))
        return self._plan_changes(file, previous, whole)

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

    def _plan_changed_regions(self, file: FileWrite, whole: Transfer) -> FileWrite:
        comparison = compare_regions(self.device, file.base_address, file.image)
        log.info(comparison.describe(file.source))
        if not comparison.changed:
            message = f"'{file.source}' at {file.address:#010x} already in flash, skipping write."
            return replace(file, skip_message=message, verify=False)
        transfers = tuple(
            self._transfer(address, data, file.source, changed=True)
            for address, data in comparison.changed
        )
        return replace(file, transfers=transfers, full_rewrite=whole, rest_proven_equal=True)

    def _plan_changes(self, file: FileWrite, previous: bytes, whole: Transfer) -> FileWrite:
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
        if self.can_verify and self._already_in_flash(file.base_address, file.image):
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
        if self.keep_settings:
            if not quiet:
                log.warning("Security features enabled, so not changing any flash settings.")
            return data
        return update_flash_params(
            data,
            address,
            self.device.chip,
            self.options.flash_mode,
            self.options.flash_freq,
            self.flash_size,
            source,
        )

    def _already_in_flash(self, address: int, image: bytes) -> bool:
        return self.device.flash_md5(address, len(image)) == hashlib.md5(image).hexdigest()

    def _transfer(
        self,
        address: int,
        data: bytes,
        source: str,
        changed: bool = False,
        shown_address: int | None = None,
    ) -> Transfer:
        return Transfer(address, data, self.compress, changed, shown_address, source=source)


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
    runs: list[list[int]] = []
    for sector in changed:
        if runs and runs[-1][-1] + FLASH_SECTOR_SIZE == sector:
            runs[-1].append(sector)
        else:
            runs.append([sector])
    result = []
    for run in runs:
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
