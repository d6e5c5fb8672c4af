"""Erasing flash, through the flasher stub's erase commands or the ROM bootloader.

ROMs have no erase command (ERASE_FLASH and ERASE_REGION belong to the flasher stub), but every
ROM erases the region a FLASH_BEGIN announces before it takes any data. So a FLASH_BEGIN that is
never followed by data erases a region; esptool 5.6 does this for erase-region. For erase-flash
esptool 5.6 in ROM mode stops ("ROM does not support function erase_flash"); espforge erases the
whole detected flash the same way instead.
"""

from __future__ import annotations

import time

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import EspforgeError
from espforge.flash.device import SDM_ERASE_FLASH_SIZE, Device
from espforge.flash.progress import Operation
from espforge.image.flash_params import flash_size_bytes
from espforge.logs import library_logger

log = library_logger(__name__)


def check_security_allows_erase(device: Device, force: bool) -> None:
    """Erasing a chip with Secure Boot or flash encryption on can brick it: only with --force."""
    chip = device.chip
    if force or not (chip.flash_encryption or chip.secure_boot) or device.secure_download_mode:
        return
    if device.flash_encryption_enabled() or device.secure_boot_enabled():
        raise EspforgeError(
            "Active security features detected, erasing flash is disabled as a safety "
            "measure. Use --force to override, but with caution: it may brick your device!"
        )


def erase_region(device: Device, address: int, size: int, force: bool = False) -> float:
    """Erase `size` bytes from `address` (both whole sectors); returns the seconds it took."""
    if address % FLASH_SECTOR_SIZE:
        raise EspforgeError(f"Offset to erase from must be a multiple of {FLASH_SECTOR_SIZE}.")
    if size % FLASH_SECTOR_SIZE:
        raise EspforgeError(f"Size of data to erase must be a multiple of {FLASH_SECTOR_SIZE}.")
    device.check_access(address, size)
    check_security_allows_erase(device, force)
    log.info("Erasing flash memory region (this may take a while depending on size)...")
    started = time.monotonic()
    # The ROM needs the real size before it erases past its default 2MB.
    device.configure_flash_size(
        "detect" if not device.secure_download_mode else SDM_ERASE_FLASH_SIZE
    )
    _erase(device, address, size)
    elapsed = time.monotonic() - started
    log.info(f"Flash memory region erased successfully in {elapsed:.1f} seconds.")
    return elapsed


def erase_flash(device: Device, force: bool = False) -> float:
    """Erase the whole flash (as big as the flash id says); returns the seconds it took."""
    device.refuse_in_secure_download_mode("Erasing the whole flash")
    check_security_allows_erase(device, force)
    return erase_whole_flash(device, _detected_size(device))


def erase_whole_flash(device: Device, size: int) -> float:
    """Erase `size` bytes from address 0, without the checks `erase_flash` makes first."""
    log.info("Erasing flash memory (this may take a while)...")
    started = time.monotonic()
    device.set_flash_size(size)
    _erase(device, 0, size, whole=True)
    elapsed = time.monotonic() - started
    log.info(f"Flash memory erased successfully in {elapsed:.1f} seconds.")
    return elapsed


def _detected_size(device: Device) -> int:
    name = device.detected_flash_size()
    if name is None:
        raise EspforgeError(
            f"cannot tell the size of the flash (id {device.flash_id().raw:#08x}), so it is not "
            "erased: use erase-region with an explicit size"
        )
    return flash_size_bytes(name)


def _erase(device: Device, address: int, size: int, whole: bool = False) -> None:
    """Erase by the loader's erase commands (ERASE_FLASH for everything from 0)."""
    erasing = f"Erasing {size:#x} bytes at {address:#010x}"
    with device.progress.task(Operation.ERASE, size, erasing) as task:
        if whole:
            device.loader.erase_flash(size)
        else:
            device.loader.erase_region(address, size)
        task.update(size, f"Erased {size:#x} bytes at {address:#010x}")
