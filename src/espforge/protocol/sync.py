"""Getting a chip into download mode and in step with the host: reset it (as `--before` says)
and SYNC until it answers, then tell which chip answered (before any loader is built for it)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

from espforge.chips import ChipSpec, all_chips
from espforge.chips.base import CHIP_DETECT_MAGIC_REG
from espforge.errors import (
    CommandFailed,
    ConnectError,
    EspforgeError,
    ProtocolError,
    UnsupportedCommandError,
)
from espforge.link import reset as link_reset
from espforge.logs import library_logger
from espforge.protocol.channel import CommandChannel
from espforge.protocol.commands import Opcode
from espforge.protocol.connection import Connection
from espforge.protocol.diagnose import diagnose_no_sync
from espforge.protocol.security import FULL_SECURITY_INFO, SHORT_SECURITY_INFO, SecurityInfo

log = library_logger(__name__)

SYNC_TRIES_PER_ATTEMPT = 5


def synchronise(connection: Connection, before: str = "default-reset", attempts: int = 7) -> bool:
    """Reset into download mode (as `before` says) and sync, `attempts` times over (0 or less:
    until it works); a ConnectError says what the chip printed meanwhile. True when the answer
    came from a flasher stub left running."""
    if before not in link_reset.BEFORE_CHOICES:
        raise EspforgeError(
            f"unknown --before '{before}': choose one of {', '.join(link_reset.BEFORE_CHOICES)}"
        )
    if before == "no-reset-no-sync":
        return False
    if connection.port_name.startswith("socket:") and before != "no-reset":
        log.info("A TCP socket cannot reset the chip: put it into download mode by hand.")
        before = "no-reset"
    log.info("Connecting...")
    strategies = _bootloader_resets(connection, before)
    tries = range(attempts) if attempts > 0 else iter(int, 1)
    for number, _ in enumerate(tries):
        stub_detected = _connect_attempt(connection, before, strategies[number % len(strategies)])
        if stub_detected is not None:
            return stub_detected
    output = connection.link.take_chip_output()
    raise ConnectError(
        f"could not connect to the chip on {connection.port_name}: "
        + diagnose_no_sync(output, connection.port_name),
        output,
    )


def _bootloader_resets(connection: Connection, before: str) -> list[link_reset.ResetStrategy]:
    if before == "no-reset":
        return [link_reset.ResetStrategy("none", lambda port: None)]
    settings = connection.settings
    return link_reset.bootloader_resets(
        before,
        usb_jtag_serial=connection.usb.jtag_serial_pid,
        flow_control=connection.usb.flow_control_bridge,
        reset_delay=settings.reset_delay,
        custom_sequence=settings.custom_reset_sequence,
        tight_possible=not connection.port_name.startswith("rfc2217:"),
    )


def _connect_attempt(
    connection: Connection, before: str, strategy: link_reset.ResetStrategy
) -> bool | None:
    """One reset and a few SYNCs: whether a stub answered, or None when nothing did."""
    link = connection.link
    if before != "no-reset":
        if not connection.port_name.startswith("rfc2217:"):  # may block on RFC 2217 ports
            link.discard_input()
        link_reset.perform_reset(connection.port, strategy)
        link.read_waiting()  # the boot message, kept for the diagnosis
    for _ in range(SYNC_TRIES_PER_ATTEMPT):
        link.discard_input()
        link.reset_output()
        try:
            return connection.channel.sync()
        except ProtocolError:
            time.sleep(0.05)
    return None


# ---------------------------------------------------------------------- identifying


@dataclass(frozen=True)
class Identification:
    """Which chip answered, as its ROM reports it."""

    chip: ChipSpec | None  # None: not a chip espforge knows
    evidence: str  # what was read, for messages
    secure_download_mode: bool
    security_info: SecurityInfo | None  # None where the ROM lacks GET_SECURITY_INFO


def request_security_info(channel: CommandChannel) -> SecurityInfo:
    """GET_SECURITY_INFO (ESP32-S2 and later ROMs; works in Secure Download Mode too)."""
    response = channel.request_response(Opcode.GET_SECURITY_INFO, attempts=2)
    # The reply's length tells the full form from ESP32-S2's short one.
    full = len(response.data) >= FULL_SECURITY_INFO.size + 2
    length = (FULL_SECURITY_INFO if full else SHORT_SECURITY_INFO).size
    _value, data = channel.check(response, "get security info", length)
    return SecurityInfo.parse(data)


def read_register(channel: CommandChannel, address: int, timeout: float | None = None) -> int:
    """READ_REG, sent again once when its reply is lost (a read can be repeated safely)."""
    value, _ = channel.request(
        Opcode.READ_REG,
        struct.pack("<I", address),
        f"read the register at 0x{address:08x}",
        timeout=timeout,
        attempts=2,
    )
    return value


def identify(channel: CommandChannel) -> Identification:
    """The chip by GET_SECURITY_INFO's chip id where the ROM has it, else by the magic word in
    ROM (esptool's order); also whether it is in Secure Download Mode."""
    try:
        info: SecurityInfo | None = request_security_info(channel)
    except (CommandFailed, ProtocolError):
        info = None  # ESP8266 and ESP32 ROMs have no GET_SECURITY_INFO
    secure = info is not None and info.secure_download_mode
    if info is not None and info.chip_id is not None:
        chip = _first(
            c for c in all_chips() if not c.uses_magic_value and c.image_chip_id == info.chip_id
        )
        return Identification(chip, f"chip id {info.chip_id}", secure, info)
    try:
        magic = read_register(channel, CHIP_DETECT_MAGIC_REG)
    except UnsupportedCommandError:
        # Only a ROM with the short security info refuses READ_REG: in Secure Download Mode.
        chip = _first(c for c in all_chips() if c.uses_magic_value and c.security_info_supported)
        evidence = "no magic value (registers are locked in Secure Download Mode)"
        return Identification(chip, evidence, True, info)
    chip = _first(c for c in all_chips() if c.uses_magic_value and c.magic_value == magic)
    return Identification(chip, f"magic value 0x{magic:08x}", secure, info)


def _first(chips: Iterable[ChipSpec]) -> ChipSpec | None:
    return next(iter(chips), None)
