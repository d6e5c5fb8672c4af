"""A virtual Espressif chip: the ROM bootloader of every chip espforge knows, with NOR flash.

`VirtualChip` is transport-independent (bytes in, bytes out, DTR/RTS); reach it in-process as
`virtual://<chip>?...` (espforge.virtual.protocol_virtual), over a PTY, a loopback TCP port or
RFC 2217 (`PtyServer`, `TcpServer`, `Rfc2217Server`), or with `serve()` as the
`espforge virtual serve` command does.
"""

from espforge.virtual.chip import BootState, LoggedCommand, VirtualChip
from espforge.virtual.chip_options import ChipOptions, LinkModel
from espforge.virtual.config import OPTION_HELP, chip_from_options
from espforge.virtual.faults import FaultPlan
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.rom import FlashTiming

_TRANSPORTS = ("ChipServer", "PtyServer", "Rfc2217Server", "TcpServer", "serve")


def __getattr__(name: str) -> object:
    # The servers are loaded on first use: they build on the virtual:// port, which itself
    # imports the chip from this package.
    if name in _TRANSPORTS:
        from espforge.virtual import transports

        return getattr(transports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OPTION_HELP",
    "BootState",
    "ChipIdentity",
    "ChipOptions",
    "ChipServer",
    "FaultPlan",
    "FlashTiming",
    "LinkModel",
    "LoggedCommand",
    "PtyServer",
    "Rfc2217Server",
    "TcpServer",
    "VirtualChip",
    "chip_from_options",
    "serve",
]
