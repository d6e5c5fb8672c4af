"""Everything that may refuse a write, checked before it is planned, and what the plan needs to
know about the chip, read from it once.

`check_write` runs esptool 5.6's checks in its order: the ROM's 16 MB reach, flash encryption
(the loader must encrypt, the eFuses hold a key and allow it), compression, the shortcuts the
chip cannot take (--diff-with, --skip-flashed need its MD5), images built for another chip or
revision, plaintext over enabled encryption, the flash size (told to the ROM with
SPI_SET_PARAMS), the firmware layout and --erase-all. Its result, a `CheckedWrite`, is all that
`espforge.flash.planner` plans from besides what the flash already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

from espforge.chips import ChipSpec
from espforge.efuse.flash_key import plaintext_writes_refused, read_flash_key
from espforge.efuse.state import EfuseState
from espforge.efuse.table import load_table
from espforge.errors import EspforgeError, NotSupportedError
from espforge.flash.compatibility import image_incompatibility
from espforge.flash.device import ROM_ADDRESS_LIMIT, Device
from espforge.flash.erase import check_security_allows_erase
from espforge.flash.inputs import FlashInputError, WriteInputs, check_fits
from espforge.flash.plan import WriteOptions
from espforge.image.firmware import IMAGE_MAGIC
from espforge.image.flash_input import FlashInput
from espforge.image.flash_params import KEEP, flash_size_bytes
from espforge.image.layout_check import blocking_findings, firmware_findings
from espforge.image.partition_table import DEFAULT_TABLE_OFFSET, ENTRY_MAGIC
from espforge.logs import library_logger

log = library_logger(__name__)

CRYPT_CONFIG_ALL = 0xF  # the ESP32 FLASH_CRYPT_CONFIG esptool expects: every key bit tweaked


@dataclass(frozen=True)
class ChipState:
    """What planning a write needs to know about the connected chip, read by `check_write`."""

    chip: ChipSpec
    flash_size: str  # as configured (SPI_SET_PARAMS): a size, or "keep"
    flash_end: int | None  # bytes of flash the write may use (None: unknown)
    secure_download_mode: bool
    secure_boot: bool | None  # None: not asked (Secure Download Mode keeps the settings anyway)
    can_md5: bool  # the loader computes flash MD5s

    @property
    def keeps_flash_settings(self) -> bool:
        """Security features are on: a bootloader's flash settings may not be rewritten."""
        return self.secure_download_mode or bool(self.secure_boot)

    @property
    def can_verify(self) -> bool:
        return self.can_md5 and not self.secure_download_mode


@dataclass(frozen=True)
class CheckedWrite:
    """A write that passed the checks: its inputs, its options as the chip allows them (the
    shortcuts it cannot take dropped), whether to compress, and the chip's state."""

    inputs: WriteInputs
    options: WriteOptions
    compress: bool
    chip_state: ChipState

    @property
    def encrypted(self) -> tuple[bool, ...]:
        return self.inputs.encrypted(self.options.encrypt)


def check_write(device: Device, inputs: WriteInputs, options: WriteOptions) -> CheckedWrite:
    """Refuse a write the chip cannot or should not take, tell the ROM the flash size and gather
    what planning needs to know about the chip. Nothing is erased or written."""
    chip = device.chip
    files = inputs.files
    check_fits(files, ROM_ADDRESS_LIMIT, "the ROM addresses 16MB at most")
    encrypted = inputs.encrypted(options.encrypt)
    to_encrypt = [item for item, encrypt in zip(files, encrypted, strict=True) if encrypt]
    if to_encrypt:
        _check_encryption_possible(device, to_encrypt, options)
    compress = _choose_compression(device, options.compress)
    options = _drop_unusable_shortcuts(device, options)
    if not options.force and chip.image_chip_id is not None and not device.secure_download_mode:
        _check_images_suit_chip(device, files)
    if not to_encrypt:  # esptool makes this check only when nothing is to be encrypted
        _refuse_plaintext_over_encryption(device, options)

    flash_size = device.configure_flash_size(options.flash_size)
    flash_end, limit_name = _usable_flash_end(device, flash_size)
    if flash_end is not None:
        check_fits(files, flash_end, limit_name)
    if options.layout_check:
        _check_firmware_layout(chip, files, flash_end, options.force)
    if options.erase_all:
        _check_whole_erase_possible(device, flash_end, options.force)
    secure_boot = None if device.secure_download_mode else device.secure_boot_enabled()
    state = ChipState(
        chip, flash_size, flash_end, device.secure_download_mode, secure_boot, device.can_md5
    )
    return CheckedWrite(inputs, options, compress, state)


# ------------------------------------------------------------------ flash encryption


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


# ------------------------------------------------------------------ what the loader offers


def _choose_compression(device: Device, requested: bool | None) -> bool:
    if requested is None:
        return device.can_compress
    if requested and not device.can_compress:
        raise NotSupportedError(
            f"the {device.chip.chip_name} ROM cannot take compressed data; write without "
            "--compress, or use the flasher stub (--stub-file or a stub directory)"
        )
    return requested


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


# ------------------------------------------------------------------ images and flash


def _check_images_suit_chip(device: Device, inputs: Sequence[FlashInput]) -> None:
    """An image built for another chip or revision: refused as the bootloader, noted elsewhere."""
    chip_revision = cache(device.loader.chip_revision)  # read once, when an image needs it
    for item in inputs:
        problem = image_incompatibility(device.chip, item.data, item.source, chip_revision)
        if problem is None:
            continue
        if item.address == device.chip.bootloader_flash_offset:
            raise FlashInputError(f"{problem}. Use --force to flash anyway.")
        log.info("Note: %s", problem)


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


def _check_firmware_layout(
    chip: ChipSpec, inputs: Sequence[FlashInput], flash_end: int | None, force: bool
) -> None:
    """When the inputs look like firmware (an image or a partition table among them), print what
    `espforge check-layout` would and raise if an error is not overridden. Plain data is written
    unchecked, as esptool does; ESP8266 flash has no ESP-IDF layout to check."""
    if not chip.esp_idf_layout or not _looks_like_firmware(inputs):
        return
    findings = firmware_findings(
        chip, inputs, partition_table_offset=DEFAULT_TABLE_OFFSET, flash_size=flash_end
    )
    for finding in findings:
        log.info(str(finding))
    blocking = blocking_findings(findings, force)
    if blocking:
        hint = "" if force else "; --force overrides the ones that may be overridden"
        raise FlashInputError(
            f"the layout check found {len(blocking)} error(s), nothing was written "
            f"(first: {blocking[0].message}){hint}"
        )


def _looks_like_firmware(inputs: Sequence[FlashInput]) -> bool:
    """Whether any input starts like a firmware image or a partition table."""
    return any(
        item.data[:1] == bytes([IMAGE_MAGIC]) or item.data[:2] == ENTRY_MAGIC for item in inputs
    )


def _check_whole_erase_possible(device: Device, flash_end: int | None, force: bool) -> None:
    device.refuse_in_secure_download_mode("Erasing the whole flash (--erase-all)")
    check_security_allows_erase(device, force)
    if flash_end is None:
        raise EspforgeError(
            "the flash size is unknown, so --erase-all cannot tell how much to erase: give "
            "--flash-size"
        )
