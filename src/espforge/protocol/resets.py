"""Leaving download mode once the work is done (`--after`): a hard reset through the serial
lines, through the RTC watchdog, a soft reset, or staying.

A hard reset over the chip's own USB port holds and waits with the USB timings on every chip
(esptool: only on ESP32-C5 over USB-Serial/JTAG and on USB-OTG).
"""

from __future__ import annotations

import contextlib
import time

from espforge.errors import EspforgeError
from espforge.link import reset as link_reset
from espforge.logs import library_logger
from espforge.protocol.loader import Loader

log = library_logger(__name__)

WATCHDOG_TIMEOUT_TICKS = 2000
WATCHDOG_ENABLE = (1 << 31) | (5 << 28) | (1 << 8) | 2  # on, system reset stage, 2-cycle pulse


def run_reset(loader: Loader, after: str) -> None:
    """What `--after` asks for once the work is done."""
    if after == "hard-reset":
        hard_reset(loader)
    elif after == "soft-reset":
        log.info("Soft resetting...")
        loader.soft_reset(stay_in_bootloader=False)
    elif after == "watchdog-reset":
        watchdog_reset(loader)
    elif after == "no-reset":
        log.info("Staying in bootloader.")
        loader.soft_reset(stay_in_bootloader=True)  # a stub hands back to the ROM
    elif after == "no-reset-stub":
        log.info("Staying in flasher stub.")
    else:
        raise EspforgeError(
            f"unknown --after '{after}': choose one of {', '.join(link_reset.AFTER_CHOICES)}"
        )


def hard_reset(loader: Loader) -> None:
    """Restart the chip into its application (EN pulse, or a watchdog over USB-OTG)."""
    chip = loader.chip
    strap = chip.download_strap
    if strap is not None and strap.clear_force_download_on_hard_reset:
        # An application may have forced the next boot into download mode; undo that so
        # the reset boots it again. Best effort: the chip may be busy resetting already.
        with contextlib.suppress(EspforgeError):
            loader.write_reg(strap.option1_reg, 0, strap.force_download_mask)
    usb = loader.connection.usb
    if usb.usb_otg(chip) and _watchdog_restarts_into_app(loader):
        watchdog_reset(loader)
        return
    custom = loader.settings.custom_hard_reset_sequence
    if custom is not None:
        link_reset.run_reset_sequence(loader.port, link_reset.parse_reset_sequence(custom))
        log.info("Custom reset sequence executed: %s", custom)
        return
    log.info("Hard resetting via RTS pin...")
    strategy = link_reset.ResetStrategy(
        "hard",
        lambda port: link_reset.hard_reset(
            port,
            uses_usb=usb.usb_otg(chip) or usb.usb_jtag_serial,
            flow_control=usb.flow_control_bridge,
        ),
    )
    link_reset.perform_reset(loader.port, strategy)


def _watchdog_restarts_into_app(loader: Loader) -> bool:
    # Over the chip's own USB-OTG port RTS cannot reset it; a watchdog can, but it boots
    # the application only if the boot strap is not holding it in download mode.
    chip = loader.chip
    if not (chip.watchdog_reset_supported and chip.watchdog):
        return False
    strap = chip.download_strap
    if strap is None or loader.secure_download_mode:
        return not loader.secure_download_mode
    strapped_for_flash = loader.read_reg(strap.gpio_strap_reg) & strap.spi_boot_mask
    forced = loader.read_reg(strap.option1_reg) & strap.force_download_mask
    return not strapped_for_flash and not forced


def watchdog_reset(loader: Loader) -> None:
    """Restart through the RTC watchdog (chips whose USB port cannot be reset by RTS)."""
    chip = loader.chip
    watchdog = chip.watchdog
    if loader.secure_download_mode or not (chip.watchdog_reset_supported and watchdog):
        log.warning(
            "watchdog reset is not available on %s%s: hard resetting instead",
            chip.chip_name,
            " in Secure Download Mode" if loader.secure_download_mode else "",
        )
        hard_reset(loader)
        return
    log.info("Hard resetting with a watchdog...")
    loader.write_reg(watchdog.wdt_protect, watchdog.wdt_key)
    loader.write_reg(watchdog.wdt_config1, WATCHDOG_TIMEOUT_TICKS)
    loader.write_reg(watchdog.wdt_config0, WATCHDOG_ENABLE)
    loader.write_reg(watchdog.wdt_protect, 0)
    time.sleep(0.5)
