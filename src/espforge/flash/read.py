"""Reading flash back and comparing it with files, through the flasher stub or the ROM.

A flasher stub streams flash in 4 KB packets under windowed acknowledgements and checks them by
MD5. ESP32-family ROMs read 64 bytes per READ_FLASH_SLOW command and compute MD5 digests of
flash regions; the ESP8266 ROM does neither, so reading it needs the stub.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from espforge.errors import EspforgeError, NotSupportedError
from espforge.flash.device import Device
from espforge.flash.progress import Operation
from espforge.image.flash_input import FlashInput
from espforge.image.flash_params import KEEP, update_flash_params
from espforge.logs import library_logger

log = library_logger(__name__)

PROGRESS_STEP = 1024  # report reads every KB, as esptool does


def check_can_read(device: Device) -> None:
    """Refuse up front on a chip whose ROM has no flash read command (ESP8266)."""
    if not device.can_read:
        raise NotSupportedError(
            f"the {device.chip.chip_name} ROM cannot read flash; reading needs the flasher "
            "stub (give --stub-file or a stub directory)"
        )


def read_flash(device: Device, address: int, size: int) -> bytes:
    """`size` bytes of flash from `address` (a ROM reads 64 bytes per command, a stub streams
    them)."""
    check_can_read(device)
    with device.progress.task(Operation.READ, size, f"Reading from {address:#010x}") as task:

        def report(done: int, _total: int) -> None:
            if done % PROGRESS_STEP == 0 or done == size:
                task.update(done, f"Reading from {address + done:#010x}")

        data = device.loader.read_flash(address, size, report)
        if len(data) != size:
            raise EspforgeError(
                f"the chip sent {len(data)} bytes of flash where {size} were asked; check the link"
            )
        return data


def read_flash_reporting(device: Device, address: int, size: int, destination: str = "") -> bytes:
    """read_flash, then esptool's summary line ("Read N bytes from 0x... in T seconds...")."""
    started = time.monotonic()
    data = read_flash(device, address, size)
    elapsed = time.monotonic() - started
    rate = f" ({len(data) / elapsed * 8 / 1000:.1f} kbit/s)" if elapsed > 0 else ""
    target = f" to '{destination}'" if destination else ""
    log.info(f"Read {len(data)} bytes from {address:#010x} in {elapsed:.1f} seconds{rate}{target}.")
    return data


@dataclass(frozen=True)
class Mismatch:
    """One input whose flash content differs: where, and (with a byte diff) which bytes."""

    source: str
    address: int
    differences: tuple[tuple[int, int, int], ...] = ()  # (address, flash byte, file byte)


def verify_flash(
    device: Device,
    inputs: Sequence[FlashInput],
    flash_mode: str = KEEP,
    flash_freq: str = KEEP,
    flash_size: str = KEEP,
    show_differences: bool = False,
) -> list[Mismatch]:
    """Compare each input with flash by MD5 (reading the bytes back only to show differences).

    A bootloader is compared as write-flash would have written it, with the flash settings
    given. Returns the inputs that differ (empty: all verified).
    """
    if not device.can_md5:
        raise NotSupportedError(
            f"the {device.chip.chip_name} ROM can neither read flash nor compute its MD5, so "
            "it cannot verify; that needs the flasher stub (give --stub-file or a stub directory)"
        )
    flash_size = device.configure_flash_size(flash_size)
    mismatches = []
    for item in inputs:
        expected = item.data + b"\xff" * (-len(item.data) % 4)
        expected = update_flash_params(
            expected, item.address, device.chip, flash_mode, flash_freq, flash_size, item.source
        )
        mismatch = _verify_one(device, item, expected, show_differences)
        if mismatch is not None:
            mismatches.append(mismatch)
    return mismatches


def _verify_one(
    device: Device, item: FlashInput, expected: bytes, show_differences: bool
) -> Mismatch | None:
    size = len(expected)
    log.info(
        f"Verifying {size:#x} ({size}) bytes at {item.address:#010x} in flash against "
        f"'{item.source}'..."
    )
    with device.progress.task(Operation.VERIFY, size, f"Verifying at {item.address:#010x}") as task:
        digest = device.flash_md5(item.address, size)
        task.update(size, f"Verified at {item.address:#010x}")
    if digest == hashlib.md5(expected).hexdigest():
        log.info("Verification successful (digest matched).")
        return None
    if not show_differences:
        log.info("Verification failed (digest mismatch).")
        return Mismatch(item.source, item.address)
    flash = read_flash(device, item.address, size)
    differences = tuple(
        (item.address + offset, flash[offset], expected[offset])
        for offset in range(size)
        if flash[offset] != expected[offset]
    )
    if not differences:  # the MD5 disagreed but the bytes read back agree: a flaky link
        log.info("Verification failed (digest mismatch), though the bytes read back match.")
        return Mismatch(item.source, item.address)
    log.info(
        f"Verification failed: {len(differences)} differences, first at {differences[0][0]:#010x}:"
    )
    for where, flash_byte, file_byte in differences:
        log.info(f"   {where:#010x} {flash_byte:02x} {file_byte:02x}")
    return Mismatch(item.source, item.address, differences)
