"""Command and response packets, checked against esptool's own packet layout."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from espforge.protocol.commands import (
    Opcode,
    checksum,
    decode_command,
    decode_response,
    describe_error,
    encode_command,
    encode_response,
)


def test_sync_packet_matches_the_reference_layout() -> None:
    from espforge.protocol.commands import SYNC_PAYLOAD

    packet = encode_command(Opcode.SYNC, SYNC_PAYLOAD)
    assert packet[:8] == bytes([0, 8, 36, 0, 0, 0, 0, 0])
    assert packet[8:12] == b"\x07\x07\x12\x20"
    assert packet[12:] == b"\x55" * 32


def test_checksum_agrees_with_esptool() -> None:
    from esptool.loader import ESPLoader

    block = bytes(range(256)) * 4
    assert checksum(block) == ESPLoader.checksum(block)
    assert checksum(b"") == 0xEF


@given(st.sampled_from(list(Opcode)), st.binary(max_size=64), st.integers(0, 0xFFFFFFFF))
def test_requests_round_trip(opcode: Opcode, data: bytes, check: int) -> None:
    request = decode_command(encode_command(opcode, data, check))
    assert request is not None
    assert (request.opcode, request.checksum, request.data) == (opcode, check, data)


def test_read_reg_response_carries_value_and_status() -> None:
    packet = encode_response(Opcode.READ_REG, 0x00F01D83, b"\x00\x00\x00\x00")
    response = decode_response(packet)
    assert response is not None
    assert response.value == 0x00F01D83
    assert response.status(0) == (0, 0)
    assert decode_response(encode_command(Opcode.READ_REG, struct.pack("<I", 4))) is None


def test_failure_codes_have_messages() -> None:
    assert describe_error(1, 0x07) == "checksum error (0x107)"
    assert describe_error(0xC1, 0x00) == "bad data checksum (0xc100)"
    assert describe_error(1, 0x99) == "unknown error 0x199"


@given(st.binary(max_size=40))
def test_decoders_accept_any_bytes(packet: bytes) -> None:
    decode_command(packet)
    decode_response(packet)
