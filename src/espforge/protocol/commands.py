"""The bootloader's command and response packets (the payloads inside SLIP frames)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

# *_DATA commands carry the same one-byte XOR sum that guards image segments.
from espforge.image.firmware import checksum as checksum


class Opcode(IntEnum):
    FLASH_BEGIN = 0x02
    FLASH_DATA = 0x03
    FLASH_END = 0x04
    MEM_BEGIN = 0x05
    MEM_END = 0x06
    MEM_DATA = 0x07
    SYNC = 0x08
    WRITE_REG = 0x09
    READ_REG = 0x0A
    SPI_SET_PARAMS = 0x0B
    SPI_ATTACH = 0x0D
    READ_FLASH_SLOW = 0x0E
    CHANGE_BAUDRATE = 0x0F
    FLASH_DEFL_BEGIN = 0x10
    FLASH_DEFL_DATA = 0x11
    FLASH_DEFL_END = 0x12
    SPI_FLASH_MD5 = 0x13
    GET_SECURITY_INFO = 0x14
    ERASE_FLASH = 0xD0
    ERASE_REGION = 0xD1
    READ_FLASH = 0xD2
    RUN_USER_CODE = 0xD3
    FLASH_ENCRYPT_DATA = 0xD4  # older flasher stubs: FLASH_DATA whose block the chip encrypts


DIRECTION_REQUEST = 0x00
DIRECTION_RESPONSE = 0x01
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + b"\x55" * 32

_HEADER = struct.Struct("<BBHI")

# Error codes: ROMs send status 1 and the code; stubs send a code whose high byte says which.
ERROR_MESSAGES: dict[int, str] = {
    0x100: "undefined error",
    0x101: "invalid parameter",
    0x102: "out of memory",
    0x103: "send failed",
    0x104: "receive failed",
    0x105: "malformed message or unknown command",
    0x106: "command failed",
    0x107: "checksum error",
    0x108: "flash write error",
    0x109: "flash read error",
    0x10A: "flash read length error",
    0x10B: "inflate failed",
    0x10C: "inflate Adler-32 error",
    0x10D: "inflate parameter error",
    0x10E: "invalid RAM binary size",
    0x10F: "invalid RAM binary address",
    0x164: "invalid parameter",
    0x165: "invalid format",
    0x166: "description too long",
    0x167: "bad encoding description",
    0x169: "insufficient storage",
    0xC000: "bad data length",
    0xC100: "bad data checksum",
    0xC200: "bad block size",
    0xC300: "invalid command",
    0xC400: "SPI operation failed",
    0xC500: "SPI unlock failed",
    0xC600: "not in flash mode",
    0xC700: "inflate error",
    0xC800: "not enough data",
    0xC900: "too much data",
    0xCA00: "NAND program failed",
    0xCB00: "NAND erase failed",
    0xFF00: "command not implemented",
}


def encode_command(opcode: int, data: bytes = b"", checksum_value: int = 0) -> bytes:
    """A request packet: direction, opcode, data length, checksum, data."""
    return _HEADER.pack(DIRECTION_REQUEST, opcode, len(data), checksum_value) + data


@dataclass(frozen=True)
class Request:
    opcode: int
    checksum: int
    data: bytes


def decode_command(packet: bytes) -> Request | None:
    """The request in a packet, or None when it is not a well-formed request."""
    if len(packet) < _HEADER.size:
        return None
    direction, opcode, length, checksum_value = _HEADER.unpack_from(packet)
    data = packet[_HEADER.size :]
    if direction != DIRECTION_REQUEST or length != len(data):
        return None
    return Request(opcode, checksum_value, data)


def encode_response(opcode: int, value: int = 0, data: bytes = b"") -> bytes:
    """A response packet; `data` already ends in the status bytes."""
    return _HEADER.pack(DIRECTION_RESPONSE, opcode, len(data), value) + data


@dataclass(frozen=True)
class Response:
    opcode: int
    value: int  # READ_REG's result; meaningless for most other commands
    data: bytes  # response data followed by the status bytes

    def status(self, payload_length: int, status_length: int = 2) -> tuple[int, int]:
        """(failed flag, error code) from the status bytes after `payload_length` data bytes."""
        status = self.data[payload_length : payload_length + status_length]
        if len(status) < 2:
            raise ValueError("response too short to hold its status bytes")
        return status[0], status[1]


def decode_response(packet: bytes) -> Response | None:
    """The response in a packet, or None when it is not a response (noise, an echo, a request)."""
    if len(packet) < _HEADER.size:
        return None
    direction, opcode, _length, value = _HEADER.unpack_from(packet)
    if direction != DIRECTION_RESPONSE:
        return None
    return Response(opcode, value, packet[_HEADER.size :])


def describe_error(failed: int, code: int) -> str:
    """A readable message for the status bytes of a failed command."""
    combined = (failed << 8) | code
    message = ERROR_MESSAGES.get(combined)
    return f"{message} (0x{combined:x})" if message else f"unknown error 0x{combined:x}"
