"""Baud-rate arithmetic: the rate to sync at, the crystal behind the UART, and the CHANGE_BAUDRATE
word a ROM needs when it times its UART from a clock it only assumes."""

from __future__ import annotations

from collections.abc import Callable

from espforge.chips import ChipSpec
from espforge.link.port import ROM_BAUD
from espforge.logs import library_logger

log = library_logger(__name__)

RegisterReader = Callable[[int], int]


def sync_baud(baud: int, before: str = "default-reset") -> int:
    """The rate to open the port at: the ROM detects the rate of the sync, which esptool keeps
    at 115200 or below; faster rates come afterwards, through CHANGE_BAUDRATE."""
    return baud if before == "no-reset-no-sync" else min(baud, ROM_BAUD)


def estimate_crystal_mhz(chip: ChipSpec, port_baud: int, read_reg: RegisterReader) -> int:
    """The crystal frequency estimated from the UART divider the ROM set for `port_baud`."""
    crystal = chip.crystal
    divider = read_reg(chip.uart_clkdiv_reg)
    estimate = crystal.estimate_mhz(port_baud, divider)
    normalised = crystal.normalised_mhz(port_baud, divider)
    if abs(normalised - estimate) > 1:
        log.warning(
            "detected crystal frequency %.2f MHz is far from %d MHz: unsupported crystal?",
            estimate,
            normalised,
        )
    return normalised


def rom_baud_word(
    chip: ChipSpec,
    baud: int,
    read_reg: RegisterReader,
    crystal_mhz: Callable[[], int],
    secure_download_mode: bool,
) -> int | None:
    """The baud word to send a ROM: ROMs that time their UART from an assumed clock need the
    request scaled by assumed/actual. None: the change cannot be made (no registers to read in
    Secure Download Mode)."""
    crystal = chip.crystal
    if crystal.rom_calibration is not None:
        rom_hz = crystal.rom_calibration.rom_crystal_hz(read_reg)
        real_hz = 40e6 if rom_hz > 33e6 else 26e6
        return int(baud * rom_hz // real_hz)
    if crystal.rom_assumed_mhz is not None:
        if secure_download_mode:
            return None
        actual = crystal_mhz()
        return baud * crystal.rom_assumed_mhz // actual if actual == 26 else baud
    if crystal.rom_assumed_field is not None and not secure_download_mode:
        field = crystal.rom_assumed_field
        assumed = field.extract(read_reg(field.address))
        actual = crystal_mhz()
        log.info("ROM expects crystal freq: %d MHz, detected %d MHz.", assumed, actual)
        if {assumed, actual} == {40, 48}:
            return baud * assumed // actual
    return baud
