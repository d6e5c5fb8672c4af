"""Registers resets need: the RTC and super watchdogs, and the download-mode straps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchdogRegisters:
    """The RTC watchdog used for --after watchdog-reset and the super watchdog (SWD) that a
    USB-Serial/JTAG link must feed; each needs its write-protect key first."""

    wdt_config0: int
    wdt_config1: int
    wdt_protect: int
    wdt_key: int = 0x50D83AA1
    swd_config: int | None = None
    swd_auto_feed: int | None = None  # bit in swd_config
    swd_protect: int | None = None
    swd_key: int | None = None


@dataclass(frozen=True)
class DownloadStrap:
    """Registers telling whether the chip was strapped or forced into download mode.

    esptool reads them before a hard reset over USB-OTG: with GPIO0 low (strap bit clear)
    and no forced download, a watchdog reset is used instead of RTS.
    """

    gpio_strap_reg: int
    spi_boot_mask: int  # strap bit set: boot from flash (GPIO0 high)
    option1_reg: int
    force_download_mask: int
    # ESP32-S3: esptool clears the force-download bit (WRITE_REG option1_reg, 0, mask
    # force_download_mask; errors ignored) before any hard reset, so the app boots again.
    clear_force_download_on_hard_reset: bool = False
