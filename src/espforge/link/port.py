"""Opening serial ports, finding candidate ports, and the USB identity of a port.

Every port is opened through pyserial's `serial_for_url`, so local devices, `rfc2217://`,
`socket://` and espforge's own `virtual://` (the in-process virtual chip) all work the same way.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import serial

from espforge.errors import PortError

# pyserial imports `protocol_<scheme>` from these packages: `virtual://` is the virtual chip's
# handler, espforge.virtual.protocol_virtual, named here so that link/ need not import it.
HANDLER_PACKAGE = "espforge.virtual"

ROM_BAUD = 115200
ESPRESSIF_VID = 0x303A
USB_JTAG_SERIAL_PID = 0x1001  # the USB-Serial/JTAG peripheral built into newer chips
# USB bridges whose CTS follows the chip's RTS, so reset sequences must not touch DTR last.
FLOW_CONTROL_BRIDGES = ((0x10C4, 0xEA64),)  # SiLabs CP2102C

# Device-name fragments ranked after Espressif's own USB ports, per platform, in order.
_LIKELY_DEVICE_NAMES = {"linux": ("ttyUSB", "ttyACM"), "darwin": ("usbserial", "usbmodem")}
_MACOS_PSEUDO_PORTS = ("Bluetooth-Incoming-Port", "wlan-debug", "cu.debug-console")


def register_url_handlers() -> None:
    """Let pyserial open `virtual://` URLs (idempotent)."""
    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)


def is_url(port: str) -> bool:
    return "://" in port


def open_port(
    port: str, baud: int = ROM_BAUD, write_timeout: float | None = 10.0
) -> serial.SerialBase:
    """The port, opened for our exclusive use; a PortError saying what to do when it cannot be."""
    register_url_handlers()
    try:
        link = serial.serial_for_url(port, do_not_open=True, exclusive=True)
        if sys.platform == "win32":
            # Windows asserts both lines on open, which would hold the chip in reset.
            link.rts = False
            link.dtr = False
        link.open()
    except ValueError as error:  # pyserial's answer to an unknown URL scheme or bad parameter
        raise PortError(f"cannot open '{port}': {error}", "other") from None
    except (serial.SerialException, OSError) as error:
        raise _describe_open_failure(port, error) from None
    # Some USB bridge drivers want the rate set after opening, not before.
    try:
        link.baudrate = baud
    except (OSError, ValueError, serial.SerialException):
        link.close()
        raise PortError(
            f"{port} does not accept {baud} baud: pick another --baud", "other"
        ) from None
    try:
        link.write_timeout = write_timeout
    except NotImplementedError:  # RFC 2217 ports have no write timeout
        link.write_timeout = None
    return link


def _describe_open_failure(port: str, error: Exception) -> PortError:
    code = getattr(error, "errno", None)
    text = str(error)
    lowered = text.lower()
    if code == errno.ENOENT or "no such file" in lowered or "filenotfound" in lowered:
        return PortError(
            f"serial port {port} does not exist: check the cable and the board's power, "
            "or give another --port (leave --port out to try every port found)",
            "missing",
        )
    if code in (errno.EBUSY, errno.EAGAIN) or "busy" in lowered or "exclusively lock" in lowered:
        return PortError(
            f"serial port {port} is in use by another program (a serial monitor?): "
            "close it and try again",
            "busy",
        )
    if code == errno.EACCES or "permission denied" in lowered or "access is denied" in lowered:
        advice = (
            "close any program using it (Windows reports a busy port this way)"
            if sys.platform == "win32"
            else "add your user to the 'dialout' (or 'uucp') group and log in again"
        )
        return PortError(f"no permission to open serial port {port}: {advice}", "permission")
    return PortError(f"cannot open serial port {port}: {text}", "other")


# ---------------------------------------------------------------- discovery


@dataclass(frozen=True)
class PortFilter:
    """`--port-filter` criteria: each list matches any of its values; all given lists must match."""

    vids: tuple[int, ...] = ()
    pids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()  # case-insensitive substrings of the device name
    serials: tuple[str, ...] = ()  # case-insensitive substrings of the USB serial number

    def matches(self, info: Any) -> bool:
        device = str(info.device or "").lower()
        serial_number = str(info.serial_number or "").lower()
        return (
            (not self.vids or info.vid in self.vids)
            and (not self.pids or info.pid in self.pids)
            and (not self.names or any(name.lower() in device for name in self.names))
            and (not self.serials or any(s.lower() in serial_number for s in self.serials))
        )


def parse_port_filter(values: Iterable[str]) -> PortFilter:
    """`vid=0x303A`, `pid=4097`, `name=ttyACM`, `serial=ABC` terms, as esptool takes them."""
    found: dict[str, list[Any]] = {"vid": [], "pid": [], "name": [], "serial": []}
    for term in values:
        key, sep, value = term.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in found:
            raise PortError(
                f"invalid --port-filter '{term}': use vid=NUMBER, pid=NUMBER, name=TEXT "
                "or serial=TEXT",
                "other",
            )
        if key in ("vid", "pid"):
            try:
                found[key].append(int(value, 0))
            except ValueError:
                raise PortError(
                    f"invalid --port-filter '{term}': {key} must be a number such as 0x303A",
                    "other",
                ) from None
        else:
            found[key].append(value)
    return PortFilter(
        tuple(found["vid"]), tuple(found["pid"]), tuple(found["name"]), tuple(found["serial"])
    )


def _list_ports() -> list[Any]:
    from serial.tools.list_ports import comports

    return list(comports())


def candidate_ports(
    port_filter: PortFilter | None = None,
    list_ports: Callable[[], Sequence[Any]] = _list_ports,
    platform: str = sys.platform,
) -> list[str]:
    """Device names worth trying, most promising first (esptool's order): Espressif's own USB
    ports, then the platform's usual USB-serial names, then the rest, each group keeping the
    order the operating system listed them in (reversed on macOS, which lists the newest last)."""
    port_filter = port_filter or PortFilter()
    ports = [info for info in list_ports() if port_filter.matches(info)]
    if platform == "darwin":
        ports = [p for p in ports if not str(p.device or "").endswith(_MACOS_PSEUDO_PORTS)]
        ports.reverse()
    likely = _LIKELY_DEVICE_NAMES.get("linux" if platform.startswith("linux") else platform, ())

    def rank(info: Any) -> tuple[int, int]:
        if info.vid == ESPRESSIF_VID:
            return (0, 0)
        device = str(info.device or "")
        for position, fragment in enumerate(likely):
            if fragment in device:
                return (1, position)
        return (2, 0)

    return [str(info.device) for info in sorted(ports, key=rank)]


def usb_ids(
    port: str, list_ports: Callable[[], Sequence[Any]] = _list_ports
) -> tuple[int | None, int | None]:
    """The (VID, PID) of a local USB serial device; (None, None) for URLs and unknown ports."""
    if not port or is_url(port):
        return None, None
    names = [port]
    if os.path.islink(port):
        names.insert(0, os.path.realpath(port))
    if sys.platform == "darwin":
        names += [name.replace("/tty.", "/cu.") for name in names]
    try:
        listed = list_ports()
    except OSError:
        return None, None
    for name in names:
        for info in listed:
            if info.device == name and info.vid is not None and info.pid is not None:
                return info.vid, info.pid
    return None, None
