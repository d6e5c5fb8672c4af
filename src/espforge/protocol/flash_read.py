"""A flasher stub's READ_FLASH: flash streamed in 4 KB packets under windowed acknowledgements,
ended by the MD5 of everything sent."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

from espforge.chips.base import FLASH_SECTOR_SIZE
from espforge.errors import ProtocolError
from espforge.protocol.commands import Opcode
from espforge.protocol.connection import Connection

READ_PACKET_SIZE = FLASH_SECTOR_SIZE  # what esptool asks for; the stub sends packets this big
READ_WINDOW = 64  # packets the stub may send ahead of our acknowledgements


def read_flash_streamed(
    connection: Connection,
    offset: int,
    size: int,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """`size` flash bytes from `offset`, streamed by the stub and checked by its MD5."""
    connection.channel.request(
        Opcode.READ_FLASH,
        struct.pack("<IIII", offset, size, READ_PACKET_SIZE, READ_WINDOW),
        "read flash",
    )
    data = bytearray()
    while len(data) < size:
        packet = _read_packet(connection, f"flash data at {offset + len(data):#x}")
        due = min(READ_PACKET_SIZE, size - len(data))
        if len(packet) != due:
            raise ProtocolError(
                f"reading flash at {offset + len(data):#x}: a {len(packet)}-byte packet "
                f"where {due} were due; the link lost data (try a lower --baud)"
            )
        data += packet
        connection.link.write_frame(struct.pack("<I", len(data)))
        if progress:
            progress(len(data), size)
    digest = _read_packet(connection, "the MD5 ending the read")
    if digest != hashlib.md5(data).digest():
        raise ProtocolError(
            f"reading {size} bytes at {offset:#x}: the data does not match the chip's MD5; "
            "the link corrupted it (try a lower --baud)"
        )
    return bytes(data)


def _read_packet(connection: Connection, what: str) -> bytes:
    packet = connection.link.read_frame(connection.settings.timeout)
    if packet is None:
        raise ProtocolError(
            f"the flasher stub stopped sending {what}: the chip stopped answering (check "
            "the cable and power; did it reset?)"
        )
    return packet
