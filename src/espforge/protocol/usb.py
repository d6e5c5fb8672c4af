"""Which USB device carries the link: an external USB-UART bridge or the chip's own USB port."""

from __future__ import annotations

from dataclasses import dataclass

from espforge.chips import ChipSpec
from espforge.link.port import ESPRESSIF_VID, FLOW_CONTROL_BRIDGES, USB_JTAG_SERIAL_PID, usb_ids


@dataclass(frozen=True)
class UsbIdentity:
    """A port's USB (VID, PID); both None for URLs and ports without a USB identity."""

    vid: int | None
    pid: int | None

    @classmethod
    def of_port(cls, port_name: str) -> UsbIdentity:
        return cls(*usb_ids(port_name))

    @property
    def ids(self) -> tuple[int | None, int | None]:
        return self.vid, self.pid

    @property
    def known(self) -> bool:
        return self.ids != (None, None)

    @property
    def usb_jtag_serial(self) -> bool:
        """The chip's own USB-Serial/JTAG peripheral."""
        return self.ids == (ESPRESSIF_VID, USB_JTAG_SERIAL_PID)

    @property
    def jtag_serial_pid(self) -> bool:
        """The USB-Serial/JTAG product id, whoever the vendor (what picks the reset timing)."""
        return self.pid == USB_JTAG_SERIAL_PID

    @property
    def flow_control_bridge(self) -> bool:
        """A USB-UART bridge whose RTS/DTR lines follow pyserial only with flow control set."""
        return self.ids in FLOW_CONTROL_BRIDGES

    def usb_otg(self, chip: ChipSpec) -> bool:
        """The chip's own USB-OTG peripheral (its product id is the chip's image id)."""
        return self.ids == (ESPRESSIF_VID, chip.image_chip_id)

    def mode(self, chip: ChipSpec) -> str | None:
        """The chip's own USB peripheral carrying the link, or None (an external USB-UART)."""
        if self.usb_jtag_serial:
            return "USB-Serial/JTAG"
        return "USB-OTG" if self.usb_otg(chip) else None
