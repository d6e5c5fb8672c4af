"""A virtual Espressif chip: the ROM bootloader of every chip espforge knows, with NOR flash.

`VirtualChip` is transport-independent (bytes in, bytes out, DTR/RTS); reach it in-process as
`virtual://<chip>?...` (espforge.link.protocol_virtual), over a PTY or a loopback TCP port
(`PtyServer`, `TcpServer`), or with `serve()` as the `espforge virtual serve` command does.
"""

from espforge.virtual.chip import BootState, ChipOptions, LinkModel, LoggedCommand, VirtualChip
from espforge.virtual.config import OPTION_HELP, chip_from_options
from espforge.virtual.faults import FaultPlan
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.rom import FlashTiming
from espforge.virtual.transports import ChipServer, PtyServer, TcpServer, serve

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
    "TcpServer",
    "VirtualChip",
    "chip_from_options",
    "serve",
]
