"""The virtual chip's flasher-stub dialect: packet by packet, and under the stock esptool 5.6
in its default mode (it uploads its own stub, which the chip "runs" by serving the dialect)."""

from __future__ import annotations

import hashlib
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import esptool_in_process
from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.commands import SYNC_PAYLOAD, Opcode, Request, checksum, encode_command
from espforge.virtual.chip import BootState, ChipOptions, VirtualChip
from espforge.virtual.chip_options import LinkModel
from espforge.virtual.config import chip_from_options
from espforge.virtual.rom import FlashTiming
from espforge.virtual.transports import TcpServer

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

STUB_CHIPS = [
    "esp8266",
    "esp32",
    "esp32s2",
    "esp32s3",
    "esp32c2",
    "esp32c3",
    "esp32c5",
    "esp32c6",
    "esp32c61",
    "esp32h2",
    "esp32h21",
    "esp32h4",
    "esp32p4",
    "esp32s31",
]
REPRESENTATIVE = ["esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6", "esp32p4"]


class StubHost:
    """Talks to a virtual chip that has been made to run a (pretend) stub."""

    def __init__(self, name: str, options: ChipOptions | None = None) -> None:
        self.chip = VirtualChip.create(name, options=options)
        self.decoder = SlipDecoder()
        self.chip.read()  # the boot banner
        code = b"\x00" * 64
        self.send(Opcode.MEM_BEGIN, struct.pack("<IIII", 64, 1, 0x1800, self.ram_address()))
        self.send(Opcode.MEM_DATA, struct.pack("<IIII", 64, 0, 0, 0) + code, checksum(code))
        self.send(Opcode.MEM_END, struct.pack("<II", 0, self.ram_address()))
        frames = self.frames()
        assert frames[-1] == b"OHAI"

    def ram_address(self) -> int:
        dram = next(r for r in self.chip.chip.memory_map if r.name == "DRAM")
        return dram.start + 0x1000

    def send(self, opcode: int, data: bytes = b"", check: int = 0) -> None:
        self.chip.receive(slip_encode(encode_command(opcode, data, check)))

    def frames(self) -> list[bytes]:
        return self.decoder.feed(self.chip.read())

    def status(self, opcode: int, data: bytes = b"", check: int = 0) -> tuple[int, bytes]:
        """(value, data) of the one response, whose two status bytes must say success."""
        self.send(opcode, data, check)
        (frame,) = self.frames()
        assert frame[1] == opcode
        return int.from_bytes(frame[4:8], "little"), frame[8:]

    def block(self, opcode: int, block: bytes, seq: int) -> bytes:
        self.send(opcode, struct.pack("<IIII", len(block), seq, 0, 0) + block, checksum(block))
        (frame,) = self.frames()
        return frame[8:]


@pytest.fixture
def stub() -> StubHost:
    host = StubHost("esp32c3")
    yield host
    host.chip.close()


def test_a_started_ram_image_greets_and_syncs_as_a_stub(stub: StubHost) -> None:
    assert stub.chip.state is BootState.RAM_CODE
    stub.send(Opcode.SYNC, SYNC_PAYLOAD)
    frames = stub.frames()
    assert len(frames) == 8 and set(frames) == {bytes([1, 8, 2, 0, 0, 0, 0, 0, 0, 0])}


def test_writes_erase_as_they_go_and_end_with_flash_end(stub: StubHost) -> None:
    flash = stub.chip.flash
    flash.program(0x20000, b"\x00" * 0x3000)
    payload = random.Random(1).randbytes(0x4000 + 100)
    assert stub.status(Opcode.FLASH_BEGIN, struct.pack("<5I", len(payload), 2, 0x4000, 0x20000, 0))
    assert flash.read(0x20000, 16) == bytes(16)  # nothing erased up front
    assert stub.block(Opcode.FLASH_DATA, payload[:0x4000], 0) == b"\x00\x00"
    last = payload[0x4000:] + b"\xff" * (0x4000 - 100)
    assert stub.block(Opcode.FLASH_DATA, last, 1) == b"\x00\x00"
    assert stub.status(Opcode.FLASH_END, struct.pack("<I", 1))[1] == b"\x00\x00"
    assert flash.read(0x20000, len(payload)) == payload
    assert flash.read(0x20000 + len(payload), 16) == b"\xff" * 16  # rest of the sector erased


def test_compressed_write_and_raw_md5(stub: StubHost) -> None:
    payload = bytes(30000) + b"tail"
    packed = zlib.compress(payload, 9)
    words = struct.pack("<5I", len(payload), 1, 0x4000, 0x1000, 0)
    stub.status(Opcode.FLASH_DEFL_BEGIN, words)
    assert stub.block(Opcode.FLASH_DEFL_DATA, packed, 0) == b"\x00\x00"
    stub.status(Opcode.FLASH_DEFL_END, struct.pack("<I", 1))
    _, data = stub.status(Opcode.SPI_FLASH_MD5, struct.pack("<4I", 0x1000, len(payload), 0, 0))
    assert data == hashlib.md5(payload).digest() + b"\x00\x00"


def test_read_flash_keeps_to_the_window_and_ends_with_the_md5(stub: StubHost) -> None:
    content = random.Random(2).randbytes(0x5800)
    stub.chip.flash.program(0x8000, content)
    stub.send(Opcode.READ_FLASH, struct.pack("<4I", 0x8000, len(content), 0x1000, 2))
    reply, *packets = stub.frames()
    assert reply[1] == Opcode.READ_FLASH and reply[8:] == b"\x00\x00"
    assert [len(p) for p in packets] == [0x1000, 0x1000]  # two in flight, then it waits
    received = b"".join(packets)
    while True:
        stub.chip.receive(slip_encode(struct.pack("<I", len(received))))
        frames = stub.frames()
        if len(received) == len(content):
            assert frames == [hashlib.md5(content).digest()]
            break
        received += b"".join(frames)
    assert received == content


def test_erase_commands_and_stub_error_codes(stub: StubHost) -> None:
    flash = stub.chip.flash
    flash.program(0, b"\x00" * 0x3000)
    stub.status(Opcode.ERASE_REGION, struct.pack("<II", 0x1000, 0x1000))
    assert flash.read(0, 0x3000) == bytes(0x1000) + b"\xff" * 0x1000 + bytes(0x1000)
    stub.send(Opcode.ERASE_REGION, struct.pack("<II", 0x1800, 0x1000))
    assert stub.frames()[0][8:] == b"\xc4\x00"  # SPI operation failed: not sector-aligned
    stub.send(Opcode.READ_FLASH_SLOW, struct.pack("<II", 0, 64))
    assert stub.frames()[0][8:] == b"\xc3\x00"  # a ROM-only command
    stub.status(Opcode.ERASE_FLASH)
    assert flash.read(0, 0x3000) == b"\xff" * 0x3000


def test_baud_change_takes_the_new_rate_exactly(stub: StubHost) -> None:
    stub.status(Opcode.CHANGE_BAUDRATE, struct.pack("<II", 921600, 115200))
    assert stub.chip.baud == 921600


def test_flash_end_with_reboot_returns_to_the_rom(stub: StubHost) -> None:
    stub.status(Opcode.FLASH_BEGIN, struct.pack("<5I", 0, 0, 0x4000, 0, 0))
    stub.send(Opcode.FLASH_END, struct.pack("<I", 0))
    stub.chip.read()
    assert stub.chip.state is BootState.DOWNLOAD and stub.chip.stub is None


# ------------------------------------------------------------------ the stock esptool


def esptool_stub_session(chip: str, tmp_path: Path) -> None:
    """Write (compressed and not), verify, read, erase-region and erase-flash, each run
    uploading esptool's own stub to a freshly started virtual chip."""
    flash_file = tmp_path / "flash.bin"
    payload = tmp_path / "payload.bin"
    payload.write_bytes(random.Random(3).randbytes(40000) + bytes(30000) + b"end")
    port = f"virtual://{chip}?flash={flash_file}"

    def run(*args: str) -> str:
        output = esptool_in_process("--chip", chip, "--port", port, "--before", "no-reset", *args)
        assert "Stub flasher running." in output
        return output

    assert "Hash of data verified." in run("write-flash", "0x10000", str(payload))
    assert "Hash of data verified." in run("write-flash", "-u", "0x40000", str(payload))
    output = run("verify-flash", "0x10000", str(payload), "0x40000", str(payload))
    assert output.count("Verification successful (digest matched).") == 2
    read_back = tmp_path / "read.bin"
    run("read-flash", "0x40000", str(payload.stat().st_size), str(read_back))
    assert read_back.read_bytes() == payload.read_bytes()
    run("erase-region", "0x40000", "0x1000")
    flash = flash_file.read_bytes()
    assert flash[0x10000 : 0x10000 + payload.stat().st_size] == payload.read_bytes()
    assert flash[0x40000:0x41000] == b"\xff" * 0x1000
    assert flash[0x41000:0x42000] == payload.read_bytes()[0x1000:0x2000]
    run("erase-flash")
    assert set(flash_file.read_bytes()) == {0xFF}


@pytest.mark.parametrize("chip", ["esp8266", *REPRESENTATIVE])
def test_esptool_in_stub_mode(chip: str, tmp_path: Path) -> None:
    esptool_stub_session(chip, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("chip", sorted(set(STUB_CHIPS) - set(REPRESENTATIVE) - {"esp8266"}))
def test_esptool_in_stub_mode_every_chip(chip: str, tmp_path: Path) -> None:
    esptool_stub_session(chip, tmp_path)


def test_esptool_over_tcp_finds_a_stub_left_running(tmp_path: Path) -> None:
    """--after no-reset-stub leaves the stub serving; the next esptool run reuses it, and
    --after no-reset sends the chip back to its ROM."""
    virtual = chip_from_options("esp32c6", {"flash": str(tmp_path / "flash.bin")})
    payload = tmp_path / "payload.bin"
    payload.write_bytes(random.Random(5).randbytes(5000))
    try:
        with TcpServer(virtual) as server:
            common = ["-m", "esptool", "--chip", "esp32c6", "--port", server.port]
            common += ["--before", "no-reset"]

            def run(*args: str) -> str:
                result = subprocess.run(
                    [sys.executable, *common, *args], capture_output=True, text=True, timeout=60
                )
                assert result.returncode == 0, result.stdout + result.stderr
                return result.stdout

            assert "Stub flasher running." in run("--after", "no-reset-stub", "flash-id")
            output = run("--after", "no-reset", "write-flash", "0x8000", str(payload))
            assert "Stub flasher is already running. No upload is necessary." in output
            assert "Hash of data verified." in output
            assert virtual.stub is None and virtual.state is BootState.DOWNLOAD
    finally:
        virtual.close()
    assert (tmp_path / "flash.bin").read_bytes()[0x8000 : 0x8000 + 5000] == payload.read_bytes()


def test_idle_time_pays_for_erasing_ahead_of_the_data() -> None:
    """With flash timing on, a stub erases ahead while it waits for data: waits add up until a
    64 KB block erase is paid for, and a block that needs an erase under way waits only for
    the rest of it."""
    timing = FlashTiming()
    host = StubHost("esp32c3", ChipOptions(link=LinkModel(timing=timing)))
    stub, flash = host.chip.stub, host.chip.flash
    flash.program(0x20000, bytes(0x20000))
    block = 0x4000
    program = timing.program(block)

    def write(seq: int, idle: float) -> float:
        stub.idle_seconds = idle
        data = struct.pack("<IIII", block, seq, 0, 0) + bytes(block)
        return stub.handle(
            Request(Opcode.FLASH_DATA, checksum(bytes(block)), data)
        ).background_seconds

    stub.handle(Request(Opcode.FLASH_BEGIN, 0, struct.pack("<5I", 0x20000, 8, block, 0x20000, 0)))
    assert write(0, idle=0.0) == pytest.approx(timing.block_erase + program)
    assert write(1, idle=0.1) == pytest.approx(program)
    assert flash.read(0x30000, 4) == bytes(4)  # 0.1 s is not enough for a block erase
    assert write(2, idle=0.1) == pytest.approx(program)
    assert flash.read(0x30000, 4) == b"\xff" * 4  # 0.2 s is
    assert write(3, idle=0.0) == pytest.approx(program)
    assert write(4, idle=0.0) == pytest.approx(program)  # its sectors were erased ahead
    stub.handle(Request(Opcode.FLASH_BEGIN, 0, struct.pack("<5I", 0x10000, 4, block, 0x40000, 0)))
    assert write(0, idle=0.1) == pytest.approx(timing.block_erase - 0.1 + program)
    host.chip.close()


def test_a_write_off_a_sector_boundary_erases_its_whole_first_sector(stub: StubHost) -> None:
    """As esptool's stub does: the erase starts at the sector holding the offset."""
    flash = stub.chip.flash
    flash.program(0x20000, bytes(0x2000))
    payload = random.Random(3).randbytes(0x300)
    assert stub.status(Opcode.FLASH_BEGIN, struct.pack("<5I", len(payload), 1, 0x4000, 0x20100, 0))
    padded = payload + b"\xff" * (0x4000 - len(payload))
    assert stub.block(Opcode.FLASH_DATA, padded, 0) == b"\x00\x00"
    stub.status(Opcode.FLASH_END, struct.pack("<I", 1))
    assert flash.read(0x20000, 0x100) == b"\xff" * 0x100
    assert flash.read(0x20100, len(payload)) == payload
    assert flash.read(0x21000, 0x10) == bytes(0x10)  # the next sector is untouched
