"""Connecting: open the port, reset the chip into download mode, sync, identify the chip, build
the `Loader` that speaks to it, set it up as esptool does and switch to the requested baud rate.

Intended differences from esptool 5.6 on the wire:
- GET_SECURITY_INFO is sent once per connection; esptool sends it again after a failure or a
  short (ESP32-S2) reply, and once more for the chip class it settles on.
- esptool reads an ESP32-C2's chip revision while connecting (to decide about its flasher
  stub); espforge reads it only when asked. The eFuse words of a chip revision may be read in
  another order or number of times than esptool reads them.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace

from espforge.chips import CHIP_NAMES, ChipSpec, get_chip
from espforge.chips.base import USB_OTG_RAM_BLOCK_SIZE, FlashPowerOn, RegisterUpdate
from espforge.config import Settings, load_settings
from espforge.errors import (
    ConnectError,
    NotSupportedError,
    PortError,
    ProtocolError,
    WrongChipError,
)
from espforge.link.port import ROM_BAUD, candidate_ports, open_port, parse_port_filter
from espforge.logs import library_logger
from espforge.protocol.baud import sync_baud
from espforge.protocol.connection import Connection
from espforge.protocol.loader import Loader
from espforge.protocol.sync import Identification, identify, synchronise

log = library_logger(__name__)


@dataclass(frozen=True)
class ConnectOptions:
    """Where and how to connect (the global options of every device command)."""

    port: str | None = None  # None: every candidate port in turn, narrowed by `port_filter`
    chip: str = "auto"
    baud: int = ROM_BAUD
    before: str = "default-reset"
    connect_attempts: int = 7
    trace: bool = False
    port_filter: tuple[str, ...] = ()  # terms such as "vid=0x303A"
    settings: Settings | None = None  # None: the configuration files' (`load_settings`)


def connect(options: ConnectOptions) -> Loader:
    """Connect to a chip in download mode and return its loader, at `options.baud` where the
    ROM can. With no port, every candidate port (esptool's order, narrowed by the port filter)
    is tried in turn until one connects."""
    options = replace(options, settings=options.settings or load_settings())
    if options.chip != "auto":
        get_chip(options.chip)  # an unknown name fails before any port is opened
    if options.port is not None:
        return _connect_retrying(options)
    ports = candidate_ports(parse_port_filter(options.port_filter))
    failures: list[str] = []
    for candidate in ports:
        try:
            return _connect_port(replace(options, port=candidate))
        except (ConnectError, PortError, ProtocolError) as error:
            log.warning("%s failed to connect: %s", candidate, error)
            failures.append(candidate)
    if not ports:
        raise PortError(
            "no serial ports found: connect the board (check the cable carries data) or name "
            "the port with --port",
            "none-found",
        )
    raise ConnectError(
        f"could not connect to an Espressif chip on any of the {len(ports)} serial ports "
        f"found ({', '.join(failures)}): name one with --port to see why"
    )


def _connect_retrying(options: ConnectOptions) -> Loader:
    """esptool's `open_port_attempts`: keep opening a port that is not there yet (a board
    being plugged in, a USB port re-enumerating); 0 or less tries forever."""
    assert options.settings is not None
    tries = options.settings.open_port_attempts
    if tries != 1 and options.chip == "auto":
        log.warning("open_port_attempts only applies when both the port and the chip are given")
        tries = 1
    for number in itertools.count():
        try:
            return _connect_port(options)
        except (ConnectError, PortError, ProtocolError) as error:
            if 0 < tries <= number + 1:
                raise
            if number == 0:
                log.info("%s; retrying...", error)
            time.sleep(0.1)
    raise AssertionError("unreachable: the loop returns or raises")


def _connect_port(options: ConnectOptions) -> Loader:
    assert options.port is not None and options.settings is not None
    serial_port = open_port(
        options.port,
        sync_baud(options.baud, options.before),
        options.settings.serial_write_timeout,
    )
    try:
        return connect_over(serial_port, options)
    except BaseException:
        serial_port.close()
        raise


def connect_over(serial_port, options: ConnectOptions) -> Loader:
    """`connect()` over a pyserial port the caller opened (at `sync_baud(baud, before)`);
    the caller keeps ownership of the port when this fails."""
    requested = None if options.chip == "auto" else get_chip(options.chip)
    connection = Connection(
        serial_port, options.settings or Settings(), options.trace, options.port
    )
    stub_detected = synchronise(connection, options.before, options.connect_attempts)
    identified = identify(connection.channel)
    loader = Loader(
        connection,
        _settle_chip(identified, requested),
        secure_download_mode=identified.secure_download_mode,
        stub_detected=stub_detected,
        security_info=identified.security_info,
    )
    after_connect(loader)
    raise_baud(loader, options.baud)
    return loader


def raise_baud(loader: Loader, baud: int) -> None:
    """Switch to `baud` when it is faster than the link's rate; a dialect without
    CHANGE_BAUDRATE keeps the rate, saying so."""
    if baud <= loader.port.baudrate:
        return
    try:
        loader.change_baud(baud)
    except NotSupportedError:
        log.warning(
            "ROM doesn't support changing baud rate. Keeping initial baud rate %d.",
            loader.port.baudrate,
        )


def _settle_chip(identified: Identification, requested: ChipSpec | None) -> ChipSpec:
    detected, evidence = identified.chip, identified.evidence
    if requested is None:
        if detected is None:
            raise ConnectError(
                f"unexpected {evidence}: the chip is not one espforge knows "
                f"({', '.join(CHIP_NAMES)}); is a newer esptool needed?"
            )
        return detected
    if detected is None:
        log.warning(
            "this chip doesn't appear to be an %s (%s); continuing anyway",
            requested.chip_name,
            evidence,
        )
        return requested
    if detected != requested:
        raise WrongChipError(
            f"this chip is {detected.chip_name}, not {requested.chip_name}: "
            f"give --chip {detected.name} (or --chip auto)"
        )
    return detected


def after_connect(loader: Loader) -> None:
    """esptool's post-connect setup: smaller RAM blocks when the link may be the chip's
    own USB-OTG port, the watchdogs tamed on a USB-Serial/JTAG link, and the flash
    powered on chip revisions that start with it off."""
    chip = loader.chip
    usb = loader.connection.usb
    if chip.usb_otg_supported and (usb.usb_otg(chip) or not usb.known):
        loader.ram_block_size = USB_OTG_RAM_BLOCK_SIZE
    watchdog = chip.watchdog
    if (
        watchdog is not None
        and watchdog.swd_config is not None
        and usb.usb_jtag_serial
        and not loader.secure_download_mode
        and not loader.stub_detected
    ):
        # These watchdogs keep running on a USB-Serial/JTAG link and would reset the chip.
        loader.write_reg(watchdog.wdt_protect, watchdog.wdt_key)
        loader.write_reg(watchdog.wdt_config0, 0)
        loader.write_reg(watchdog.wdt_protect, 0)
        assert watchdog.swd_protect is not None and watchdog.swd_key is not None
        loader.write_reg(watchdog.swd_protect, watchdog.swd_key)
        auto_feed = loader.read_reg(watchdog.swd_config) | (watchdog.swd_auto_feed or 0)
        loader.write_reg(watchdog.swd_config, auto_feed)
        loader.write_reg(watchdog.swd_protect, 0)
    if chip.flash_power_on is not None and not loader.secure_download_mode:
        _power_on_flash(loader, chip.flash_power_on)


def _power_on_flash(loader: Loader, power: FlashPowerOn) -> None:
    """Switch on the flash supply of chip revisions that start with it off."""
    major, minor = loader.chip_revision()
    revision = major * 100 + minor
    if revision not in power.revisions:
        return
    field = power.rom_powered_field
    rom_powered = (
        revision in power.rom_powered_revisions
        and field is not None
        and field.extract(loader.read_reg(field.address))
    )
    # When the ROM powered the flash already, only its leftovers are tidied up.
    for step in power.rom_powered_steps if rom_powered else power.steps:
        _update_register(loader, step)


def _update_register(loader: Loader, step: RegisterUpdate) -> None:
    if step.value is not None:
        loader.write_reg(step.address, step.value)
    else:
        current = loader.read_reg(step.address)
        if current & step.when_all_set == step.when_all_set:
            loader.write_reg(step.address, (current & ~step.clear_bits) | step.set_bits)
    if step.delay:
        time.sleep(step.delay)
