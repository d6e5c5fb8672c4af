"""An open serial port with its frame link and command channel: what speaks to the chip before
it is known (syncing, identifying) and after (the loader's commands)."""

from __future__ import annotations

import logging

from espforge.config import Settings
from espforge.link.reader import FrameLink
from espforge.protocol.channel import CommandChannel
from espforge.protocol.usb import UsbIdentity

trace_log = logging.getLogger("espforge.trace")


class Connection:
    """A pyserial port and the command channel over it."""

    def __init__(
        self, port, settings: Settings, trace: bool = False, port_name: str | None = None
    ) -> None:
        self.port = port
        self.port_name = port_name or str(getattr(port, "port", "") or "")
        self.settings = settings
        self.link = FrameLink(port, trace_log.info if trace else None)
        self.channel = CommandChannel(self.link, settings, self.link.trace)
        self._usb: UsbIdentity | None = None

    @property
    def usb(self) -> UsbIdentity:
        """The port's USB identity (looked up once)."""
        if self._usb is None:
            self._usb = UsbIdentity.of_port(self.port_name)
        return self._usb

    def close(self) -> None:
        self.port.close()
