"""Resetting a chip through the serial port's modem lines.

Development boards wire RTS to the chip's EN (reset) pin and DTR to its boot-mode pin (IO0 on
most chips) through an inverting pair of transistors. pyserial's `True` asserts a line, which
drives the pin low. Holding IO0 low while EN rises starts the ROM bootloader's download mode.
The chips' built-in USB-Serial/JTAG peripheral decodes the same two lines itself and wants its
own pattern. Timings are esptool 5.6's.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from espforge.errors import EspforgeError
from espforge.link.reader import port_failure
from espforge.logs import library_logger

try:  # POSIX only: setting both modem lines in one ioctl, and the tty's close behaviour
    import fcntl
    import termios
except ImportError:
    fcntl = termios = None  # type: ignore[assignment]

log = library_logger(__name__)

DEFAULT_RESET_DELAY = 0.05  # time IO0 stays low after EN rises
EXTRA_RESET_DELAY = DEFAULT_RESET_DELAY + 0.5  # for boards with a slow EN capacitor
ENTER_BOOT_DELAY = 0.1  # time EN is held low
USB_JTAG_SETTLE = 0.1

BEFORE_CHOICES = ("default-reset", "usb-reset", "no-reset", "no-reset-no-sync")
AFTER_CHOICES = ("hard-reset", "soft-reset", "no-reset", "no-reset-stub", "watchdog-reset")

ASSERT, RELEASE = True, False  # pyserial line states: asserted drives the pin low


def set_dtr(port, state: bool) -> None:
    port.dtr = state


def set_rts(port, state: bool) -> None:
    port.rts = state
    # Windows' usbser.sys only sends a line-state change when DTR is written too.
    port.dtr = port.dtr


def set_both(port, dtr: bool, rts: bool) -> None:
    """Both lines in one step where the OS allows it (no glitch through a reset state)."""
    if not _set_both_atomically(port, dtr, rts):
        port.dtr = dtr
        port.rts = rts


def _set_both_atomically(port, dtr: bool, rts: bool) -> bool:
    if termios is None:
        return False
    try:
        descriptor = port.fileno()
    except (AttributeError, OSError, ValueError):
        return False  # URL ports (virtual://, rfc2217://) have no descriptor to ioctl
    lines = struct.unpack("I", fcntl.ioctl(descriptor, termios.TIOCMGET, struct.pack("I", 0)))[0]
    lines = (lines | termios.TIOCM_DTR) if dtr else (lines & ~termios.TIOCM_DTR)
    lines = (lines | termios.TIOCM_RTS) if rts else (lines & ~termios.TIOCM_RTS)
    fcntl.ioctl(descriptor, termios.TIOCMSET, struct.pack("I", lines))
    return True


def _keep_lines_on_close(port) -> bool:
    """Clear the tty's hang-up-on-close flag; False where there is no such thing."""
    if termios is None:
        return False
    try:
        descriptor = port.fileno()
        attributes = termios.tcgetattr(descriptor)
        attributes[2] &= ~termios.HUPCL
        termios.tcsetattr(descriptor, termios.TCSANOW, attributes)
    except (AttributeError, OSError, ValueError, termios.error):
        return False
    return True


# ------------------------------------------------------------ the sequences


def classic_reset(port, reset_delay: float = DEFAULT_RESET_DELAY, flow_control: bool = False):
    """Into download mode, one line at a time (works everywhere)."""
    set_dtr(port, RELEASE)  # IO0 high
    set_rts(port, ASSERT)  # EN low: in reset
    time.sleep(ENTER_BOOT_DELAY)
    set_dtr(port, ASSERT)  # IO0 low
    set_rts(port, RELEASE)  # EN high: the ROM samples IO0 now
    time.sleep(reset_delay)
    if not flow_control:
        set_dtr(port, RELEASE)


def tight_reset(port, reset_delay: float = DEFAULT_RESET_DELAY, flow_control: bool = False):
    """Into download mode with both lines changed together (POSIX serial devices)."""
    set_both(port, dtr=RELEASE, rts=RELEASE)
    set_both(port, dtr=ASSERT, rts=ASSERT)
    set_both(port, dtr=RELEASE, rts=ASSERT)  # in reset, IO0 high
    time.sleep(ENTER_BOOT_DELAY)
    set_both(port, dtr=ASSERT, rts=RELEASE)  # out of reset with IO0 low
    time.sleep(reset_delay)
    if not flow_control:
        set_both(port, dtr=RELEASE, rts=RELEASE)
        set_dtr(port, RELEASE)  # some adapters miss the combined write's last change


def usb_jtag_serial_reset(port) -> None:
    """Into download mode through the chip's USB-Serial/JTAG peripheral."""
    set_rts(port, RELEASE)
    set_dtr(port, RELEASE)  # idle
    time.sleep(USB_JTAG_SETTLE)
    set_dtr(port, ASSERT)  # boot pin low
    set_rts(port, RELEASE)
    time.sleep(USB_JTAG_SETTLE)
    # Into reset passing through (1, 1) rather than (0, 0), then write RTS again for Windows.
    set_rts(port, ASSERT)
    set_dtr(port, RELEASE)
    set_rts(port, ASSERT)
    time.sleep(USB_JTAG_SETTLE)
    set_dtr(port, RELEASE)
    set_rts(port, RELEASE)  # out of reset


def hard_reset(port, uses_usb: bool = False, flow_control: bool = False) -> None:
    """Pulse EN with IO0 high: the chip restarts and boots its application."""
    if flow_control:
        # These bridges pulse RTS when the port closes; keep DTR asserted across the close and
        # stop the kernel dropping the lines on close (or release DTR where it cannot).
        kept = _keep_lines_on_close(port)
        set_dtr(port, RELEASE)
        set_rts(port, ASSERT)
        time.sleep(0.1)
        set_dtr(port, ASSERT)
        time.sleep(0.1)
        set_rts(port, RELEASE)
        if not kept:
            set_dtr(port, RELEASE)
        return
    set_rts(port, ASSERT)
    # A chip on its own USB port leaves the bus while in reset; give it time to come back.
    time.sleep(0.2 if uses_usb else 0.1)
    set_rts(port, RELEASE)
    if uses_usb:
        time.sleep(0.2)


# ------------------------------------------------------- custom sequences


@dataclass(frozen=True)
class LineStep:
    """One step of a custom sequence: set DTR and/or RTS (None leaves it), or wait."""

    dtr: bool | None = None
    rts: bool | None = None
    wait: float = 0.0


def parse_reset_sequence(text: str) -> tuple[LineStep, ...]:
    """esptool's `custom_reset_sequence` syntax: steps joined by `|`: `D0`/`D1` (DTR), `R0`/`R1`
    (RTS), `U0,1` (both at once: DTR, RTS), `W0.1` (wait seconds). 1 asserts the line."""
    steps: list[LineStep] = []
    for raw in text.split("|"):
        token = raw.strip()
        if not token:
            continue
        kind, argument = token[0].upper(), token[1:]
        try:
            if kind == "D":
                steps.append(LineStep(dtr=_line_state(argument)))
            elif kind == "R":
                steps.append(LineStep(rts=_line_state(argument)))
            elif kind == "U":
                dtr, rts = (part.strip() for part in argument.split(","))
                steps.append(LineStep(dtr=_line_state(dtr), rts=_line_state(rts)))
            elif kind == "W":
                steps.append(LineStep(wait=float(argument)))
            else:
                raise ValueError
        except ValueError:
            raise EspforgeError(
                f"invalid step '{token}' in custom reset sequence '{text}': use D0/D1, R0/R1, "
                "U<dtr>,<rts> or W<seconds>, joined by '|'"
            ) from None
    return tuple(steps)


def _line_state(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def run_reset_sequence(port, steps: tuple[LineStep, ...]) -> None:
    for step in steps:
        if step.dtr is not None and step.rts is not None:
            set_both(port, step.dtr, step.rts)
        elif step.dtr is not None:
            set_dtr(port, step.dtr)
        elif step.rts is not None:
            set_rts(port, step.rts)
        if step.wait:
            time.sleep(step.wait)


# -------------------------------------------------------- choosing and running


@dataclass(frozen=True)
class ResetStrategy:
    name: str
    run: Callable[[object], None]


def bootloader_resets(
    before: str,
    usb_jtag_serial: bool,
    flow_control: bool = False,
    reset_delay: float | None = None,
    custom_sequence: str | None = None,
    tight_possible: bool = True,
) -> list[ResetStrategy]:
    """The reset strategies connection attempts cycle through, in esptool's order."""
    if custom_sequence is not None:
        steps = parse_reset_sequence(custom_sequence)
        return [ResetStrategy("custom", lambda port: run_reset_sequence(port, steps))]
    if before == "usb-reset" or usb_jtag_serial:
        return [ResetStrategy("usb-jtag-serial", usb_jtag_serial_reset)]
    delays = (
        (reset_delay, reset_delay)
        if reset_delay is not None
        else (DEFAULT_RESET_DELAY, EXTRA_RESET_DELAY)
    )
    strategies = [
        ResetStrategy(f"classic ({delay} s)", _bound(classic_reset, delay, flow_control))
        for delay in delays
    ]
    if tight_possible and os.name != "nt":
        tight = [
            ResetStrategy(f"unix-tight ({delay} s)", _bound(tight_reset, delay, flow_control))
            for delay in delays
        ]
        strategies = tight + strategies
    return strategies


def _bound(sequence: Callable[..., None], delay: float, flow_control: bool):
    return lambda port: sequence(port, delay, flow_control)


_warned_ports: set[str] = set()


def perform_reset(port, strategy: ResetStrategy) -> None:
    """Run a reset; reopen a port that vanished (USB re-enumeration) up to three times, and only
    warn when the port cannot drive modem lines at all."""
    for attempts_left in (2, 1, 0):
        try:
            if not port.is_open:
                port.open()
            strategy.run(port)
            return
        except OSError as error:
            if error.errno in (errno.ENOTTY, errno.EINVAL):
                name = str(port.name)
                if name not in _warned_ports:
                    _warned_ports.add(name)
                    log.warning(
                        "the chip was not reset: %s cannot set DTR/RTS; use --before no-reset "
                        "--after no-reset and put the chip into download mode by hand",
                        name,
                    )
                return
            if not attempts_left:
                raise port_failure(port, error) from None
            port.close()
            time.sleep(0.5)
