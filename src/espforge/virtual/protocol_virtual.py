"""pyserial handler for `virtual://<chip>?option=value&...`: a virtual chip inside this process.

Register it with `serial.protocol_handler_packages.append("espforge.virtual")`; then
`serial.serial_for_url("virtual://esp32c3?flash=dev.bin")` opens a port whose other end is a
virtual ESP32-C3 with its flash kept in dev.bin. DTR/RTS drive the chip's reset and boot pins as
a USB-UART bridge's auto-reset circuit does. Options: see espforge.virtual.config.OPTION_HELP.

The port has no file descriptor, so atomic DTR/RTS ioctls (esptool's "unix tight" reset) are
refused with ENOTTY, as a PTY refuses them; the plain DTR/RTS sequence resets the chip.
"""

from __future__ import annotations

import errno
import time
from urllib.parse import parse_qsl, urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from espforge.errors import EspforgeError
from espforge.virtual.chip import VirtualChip
from espforge.virtual.config import OPTION_HELP, chip_from_options

IDLE_POLL = 0.05  # seconds between looks at a chip with nothing scheduled


class Serial(SerialBase):
    """A serial port wired to a VirtualChip (available as `.chip` while open)."""

    def __init__(self, *args, **kwargs) -> None:
        self.chip: VirtualChip | None = None
        self._owns_chip = True
        super().__init__(*args, **kwargs)

    @classmethod
    def attached_to(cls, chip: VirtualChip) -> Serial:
        """An open port on a chip that someone else (a server) owns and keeps after we close.

        The modem lines start released (DTR and RTS off) and are not applied until changed.
        """
        port = cls()
        port._dtr_state = port._rts_state = False
        port.chip, port._owns_chip, port.is_open = chip, False, True
        return port

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        self.chip = self._chip_from_url(self._port)
        self.is_open = True
        self._update_lines()
        self.chip.set_host_baud(self._baudrate)

    @staticmethod
    def _chip_from_url(url: str) -> VirtualChip:
        parts = urlsplit(url)
        if parts.scheme != "virtual" or not parts.netloc:
            raise SerialException(
                f"expected a URL like virtual://esp32c3?flash=flash.bin, got {url!r}"
            )
        try:
            return chip_from_options(parts.netloc, dict(parse_qsl(parts.query)))
        except EspforgeError as error:
            raise SerialException(f"{url}: {error} ({OPTION_HELP})") from None

    def close(self) -> None:
        if self.chip is not None:
            self.chip.set_host_baud(None)  # whoever comes next brings their own rate
            if self._owns_chip:
                self.chip.close()
        self.chip = None
        self.is_open = False

    def _open_chip(self) -> VirtualChip:
        if not self.is_open or self.chip is None:
            raise PortNotOpenError()
        return self.chip

    def _connected_chip(self) -> VirtualChip:
        chip = self._open_chip()
        if chip.disconnected:
            raise SerialException("virtual chip hung up (injected disconnect)")
        return chip

    def _reconfigure_port(self, force_update: bool = False) -> None:
        if not isinstance(self._baudrate, int) or not 0 < self._baudrate < 2**32:
            raise ValueError(f"invalid baudrate: {self._baudrate!r}")
        if self.is_open and self.chip is not None:
            self.chip.set_host_baud(self._baudrate)

    @property
    def in_waiting(self) -> int:
        return self._connected_chip().pending()

    def read(self, size: int = 1) -> bytes:
        chip = self._open_chip()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        data = bytearray()
        while len(data) < size:
            data += chip.read(size - len(data))
            if len(data) >= size or self._timeout == 0:
                break
            if chip.disconnected:
                if data:
                    break  # what the chip sent before hanging up still arrives
                self._connected_chip()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            self._wait(chip, now, deadline)
        return bytes(data)

    @staticmethod
    def _wait(chip: VirtualChip, now: float, deadline: float | None) -> None:
        """Sleep until the chip has something for us or the read times out."""
        due = chip.next_due()
        wake = min(t for t in (due, deadline, now + IDLE_POLL) if t is not None)
        time.sleep(max(wake - now, 0))

    def write(self, data: bytes) -> int:
        chip = self._connected_chip()
        chip.receive(bytes(data))
        return len(data)

    def reset_input_buffer(self) -> None:
        self._connected_chip().discard_output()

    def reset_output_buffer(self) -> None:
        self._connected_chip()

    @property
    def out_waiting(self) -> int:
        return 0

    def fileno(self) -> int:
        raise OSError(errno.ENOTTY, "a virtual:// port has no file descriptor")

    def _update_lines(self) -> None:
        if self.is_open and self.chip is not None:
            self.chip.set_lines(bool(self._dtr_state), bool(self._rts_state))

    def _update_dtr_state(self) -> None:
        self._update_lines()

    def _update_rts_state(self) -> None:
        self._update_lines()

    def _update_break_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return bool(self._rts_state)

    @property
    def dsr(self) -> bool:
        return bool(self._dtr_state)

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
