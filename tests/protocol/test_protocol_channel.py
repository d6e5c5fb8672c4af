"""The command engine against scripted byte streams: noise, stale replies, lost and failed ones.

`FakePort` and `ScriptedRom` are shared with the other protocol tests: a pyserial-like port
whose replies come from a small script of a ROM (a register file, canned answers), so the
client's behaviour on the wire can be checked without the virtual chip.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from espforge.chips import ChipSpec, get_chip
from espforge.chips.base import SPI_CMD_USR
from espforge.config import Settings
from espforge.errors import CommandFailed, ProtocolError, UnsupportedCommandError
from espforge.link.reader import FrameLink
from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.channel import CommandChannel
from espforge.protocol.commands import (
    SYNC_PAYLOAD,
    Opcode,
    Request,
    decode_command,
    encode_response,
)

ROM_SYNC_VALUE = 0x20120707
FAST = Settings(timeout=0.3, sync_timeout=0.05)


class ScriptedRom:
    """Answers requests roughly as a chip's ROM does, from a register file and canned data."""

    def __init__(
        self,
        chip: ChipSpec,
        registers: dict[int, int] | None = None,
        security_flags: int = 0,
        flash_id: int = 0x1640EF,
        sync_value: int = ROM_SYNC_VALUE,
        rejection_opcode: int | None = None,
    ) -> None:
        self.chip = chip
        self.registers = dict(registers or {})
        self.security_flags = security_flags
        self.flash_id = flash_id
        self.sync_value = sync_value
        self.rejection_opcode = rejection_opcode  # None: a rejection echoes the opcode
        self.requests: list[Request] = []
        self.flash_md5_of = b""

    @property
    def status_ok(self) -> bytes:
        return bytes(self.chip.rom.status_length)

    def failure(self, code: int) -> bytes:
        return bytes([1, code]) + bytes(self.chip.rom.status_length - 2)

    def answer(self, request: Request) -> bytes:
        self.requests.append(request)
        handler = getattr(self, f"_on_{Opcode(request.opcode).name.lower()}", None)
        if handler is None:
            return slip_encode(encode_response(request.opcode, 0, self.status_ok))
        return handler(request)

    def _reply(self, opcode: int, value: int = 0, data: bytes = b"") -> bytes:
        return slip_encode(encode_response(opcode, value, data + self.status_ok))

    def _on_sync(self, request: Request) -> bytes:
        return self._reply(Opcode.SYNC, self.sync_value) * 8

    def _on_read_reg(self, request: Request) -> bytes:
        (address,) = struct.unpack("<I", request.data)
        return self._reply(Opcode.READ_REG, self.registers.get(address, 0))

    def _on_write_reg(self, request: Request) -> bytes:
        address, value, mask, _delay = struct.unpack("<IIII", request.data[:16])
        old = self.registers.get(address, 0)
        self.registers[address] = (old & ~mask) | (value & mask)
        spi = self.chip.spi
        if address == spi.cmd_reg and value & SPI_CMD_USR:
            self.registers[spi.cmd_reg] = 0  # the transaction completes at once
            if self.registers.get(spi.usr2_reg, 0) & 0xFF == 0x9F:
                self.registers[spi.w0_reg] = self.flash_id
        return self._reply(Opcode.WRITE_REG)

    def _on_get_security_info(self, request: Request) -> bytes:
        length = self.chip.rom.security_info_length
        if length is None:
            opcode = self.rejection_opcode or request.opcode
            return slip_encode(encode_response(opcode, 0, self.failure(0x05)))
        info = struct.pack(
            "<IB7BII", self.security_flags, 0, *range(7), self.chip.image_chip_id or 0, 1
        )
        return self._reply(Opcode.GET_SECURITY_INFO, 0, info[:length])

    def _on_spi_flash_md5(self, request: Request) -> bytes:
        digest = hashlib.md5(self.flash_md5_of).hexdigest().encode()
        return self._reply(Opcode.SPI_FLASH_MD5, 0, digest)

    def _on_read_flash_slow(self, request: Request) -> bytes:
        offset, _length = struct.unpack("<II", request.data)
        return self._reply(Opcode.READ_FLASH_SLOW, 0, bytes((offset + i) & 0xFF for i in range(64)))


Tamper = Callable[[Request, bytes], bytes]


class FakePort:
    """A pyserial-like port (also answering esptool's older method names) in front of a
    ScriptedRom; `tamper` may rewrite each reply stream (drop, delay, corrupt, add noise)."""

    def __init__(self, rom: ScriptedRom, tamper: Tamper | None = None, name: str = "fake"):
        self.rom = rom
        self.tamper = tamper
        self.inbox = bytearray()
        self.decoder = SlipDecoder()
        self.timeout: float | None = None
        self.write_timeout: float | None = None
        self.baudrate = 115200
        self.dtr = False
        self.rts = False
        self.is_open = True
        self.port = self.name = name
        self.held_back: list[bytes] = []  # replies a tamper delays until the next write

    @property
    def in_waiting(self) -> int:
        return len(self.inbox)

    def inWaiting(self) -> int:  # noqa: N802 (esptool's spelling)
        return self.in_waiting

    def read(self, size: int = 1) -> bytes:
        if not self.inbox:
            time.sleep(min(self.timeout or 0, 0.005))
            return b""
        data = bytes(self.inbox[:size])
        del self.inbox[:size]
        return data

    def write(self, data: bytes) -> int:
        for frame in self.decoder.feed(data):
            request = decode_command(frame)
            assert request is not None, f"client sent a malformed frame {frame.hex()}"
            reply = self.rom.answer(request)
            for late in self.held_back:
                self.inbox += late
            self.held_back.clear()
            self.inbox += self.tamper(request, reply) if self.tamper else reply
        return len(data)

    def reset_input_buffer(self) -> None:
        self.inbox.clear()

    flushInput = reset_input_buffer  # noqa: N815

    def reset_output_buffer(self) -> None:
        pass

    flushOutput = reset_output_buffer  # noqa: N815

    def setDTR(self, state: bool) -> None:  # noqa: N802
        self.dtr = state

    def setRTS(self, state: bool) -> None:  # noqa: N802
        self.rts = state

    def isOpen(self) -> bool:  # noqa: N802
        return self.is_open

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def sent_opcodes(self) -> list[int]:
        return [request.opcode for request in self.rom.requests]


def channel_for(port: FakePort, settings: Settings = FAST) -> CommandChannel:
    return CommandChannel(FrameLink(port), settings)


def read_reg(channel: CommandChannel, address: int, **options) -> int:
    value, _ = channel.request(Opcode.READ_REG, struct.pack("<I", address), **options)
    return value


ESP32C3 = get_chip("esp32c3")


# ----------------------------------------------------------------------------- tests


def test_reply_value_and_data_come_back() -> None:
    port = FakePort(ScriptedRom(ESP32C3, {0x1000: 0xDEADBEEF}))
    assert read_reg(channel_for(port), 0x1000) == 0xDEADBEEF
    assert port.rom.requests[0].data == struct.pack("<I", 0x1000)


def test_noise_and_foreign_frames_before_the_reply_are_skipped() -> None:
    def noisy(request: Request, reply: bytes) -> bytes:
        junk_frame = slip_encode(b"\x00\x0a\x04\x00")  # too short to be a response
        echo = slip_encode(b"\x00" + bytes([request.opcode]) + b"\x04\x00\x00\x00\x00\x00abcd")
        return b"rst:0x1 (POWERON)\r\nboot:0x13\r\n" + junk_frame + echo + reply

    port = FakePort(ScriptedRom(ESP32C3, {4: 44}), noisy)
    channel = channel_for(port)
    assert read_reg(channel, 4) == 44
    assert b"boot:0x13" in channel.link.chip_output


def test_stale_replies_to_other_commands_are_skipped() -> None:
    rom = ScriptedRom(ESP32C3, {8: 88})

    def stale_first(request: Request, reply: bytes) -> bytes:
        return rom._reply(Opcode.SYNC, ROM_SYNC_VALUE) * 3 + rom._reply(Opcode.WRITE_REG) + reply

    assert read_reg(channel_for(FakePort(rom, stale_first)), 8) == 88


def test_a_failure_status_raises_with_the_rom_error_message() -> None:
    rom = ScriptedRom(ESP32C3)
    port = FakePort(rom, lambda request, reply: slip_encode(encode_response(10, 0, rom.failure(7))))
    with pytest.raises(CommandFailed, match=r"checksum error \(0x107\)") as caught:
        read_reg(channel_for(port), 0)
    assert (caught.value.opcode, caught.value.status, caught.value.code) == (10, 1, 7)


@pytest.mark.parametrize("rejection_opcode", [None, 0x00])
def test_an_unknown_command_is_reported_as_unsupported(rejection_opcode: int | None) -> None:
    rom = ScriptedRom(get_chip("esp32"), rejection_opcode=rejection_opcode)
    channel = channel_for(FakePort(rom))
    with pytest.raises(UnsupportedCommandError):
        channel.request(Opcode.GET_SECURITY_INFO, reply_length=20)


def test_a_lost_reply_resynchronises_and_sends_again() -> None:
    dropped: list[int] = []

    def lose_first_block_reply(request: Request, reply: bytes) -> bytes:
        if request.opcode == Opcode.FLASH_DATA and not dropped:
            dropped.append(1)
            return b""
        return reply

    port = FakePort(ScriptedRom(ESP32C3), lose_first_block_reply)
    channel_for(port).request(Opcode.FLASH_DATA, b"block", attempts=3, retry_failures=True)
    assert port.sent_opcodes() == [Opcode.FLASH_DATA, Opcode.SYNC, Opcode.FLASH_DATA]


def test_a_late_reply_found_while_resynchronising_is_taken_without_resending() -> None:
    port = FakePort(ScriptedRom(ESP32C3))

    def delay_block_reply(request: Request, reply: bytes) -> bytes:
        if request.opcode == Opcode.FLASH_DATA:
            port.held_back.append(reply)  # arrives only after the next write (the SYNC)
            return b""
        return reply

    port.tamper = delay_block_reply
    channel_for(port).request(Opcode.FLASH_DATA, b"block", attempts=3, retry_failures=True)
    assert port.sent_opcodes() == [Opcode.FLASH_DATA, Opcode.SYNC]


def test_a_failed_block_is_sent_again_then_gives_up_with_a_clear_error() -> None:
    rom = ScriptedRom(ESP32C3)
    failures = [0x07]  # the first attempt fails with a checksum error, the next succeeds

    def fail(request: Request, reply: bytes) -> bytes:
        if failures:
            return slip_encode(encode_response(request.opcode, 0, rom.failure(failures.pop())))
        return reply

    port = FakePort(rom, fail)
    channel_for(port).request(Opcode.FLASH_DATA, b"x", attempts=3, retry_failures=True)
    assert port.sent_opcodes() == [Opcode.FLASH_DATA] * 2

    failures.extend([0x07] * 3)
    with pytest.raises(CommandFailed, match="failed to write block"):
        channel_for(port).request(
            Opcode.FLASH_DATA, b"x", "write block 0", attempts=3, retry_failures=True
        )


def test_a_silent_chip_times_out_with_an_actionable_message() -> None:
    port = FakePort(ScriptedRom(ESP32C3), lambda request, reply: b"")
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="stopped answering"):
        read_reg(channel_for(port), 0, timeout=0.1)
    assert time.monotonic() - started < 1.0


def test_sync_reads_the_extra_replies_and_tells_rom_from_stub() -> None:
    rom = ScriptedRom(ESP32C3)
    port = FakePort(rom)
    channel = channel_for(port)
    assert channel.sync() is False
    assert port.inbox == b""  # all eight replies consumed
    assert rom.requests[0].data == SYNC_PAYLOAD
    rom.sync_value = 0
    assert channel.sync() is True


@settings(max_examples=60, deadline=None)
@given(
    noise=st.binary(max_size=40).filter(lambda b: 0xC0 not in b),
    cuts=st.lists(st.integers(1, 30), max_size=6),
    value=st.integers(0, 0xFFFFFFFF),
)
def test_replies_split_anyhow_among_noise_are_read(noise: bytes, cuts: list[int], value: int):
    rom = ScriptedRom(ESP32C3, {0x40: value})
    port = FakePort(rom, lambda request, reply: noise + reply + noise)
    link = FrameLink(port)
    channel = CommandChannel(link, FAST)
    channel.send(Opcode.READ_REG, struct.pack("<I", 0x40))
    stream = bytes(port.inbox)
    port.inbox.clear()
    # Feed the bytes back in pieces, as a slow link would deliver them.
    position = 0
    for cut in [*cuts, len(stream)]:
        port.inbox += stream[position : position + cut]
        position += cut
        link.read_waiting()
    port.inbox += stream[position:]
    response = channel.await_response(Opcode.READ_REG, 0.2)
    assert channel.check(response, "read")[0] == value
