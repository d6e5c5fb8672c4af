"""The flasher stub's receive buffers: one frame may arrive while the stub works on another, and
no more (espforge.virtual.stub_rx). Clients that wait for each answer, as esptool and espforge
do, never notice; one that sends further ahead loses the stub."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from conftest import espforge_in_process, esptool_in_process, esptool_stub_dir
from espforge.config import Settings
from espforge.errors import ProtocolError
from espforge.image.firmware import checksum
from espforge.protocol.commands import Opcode
from espforge.protocol.connect import ConnectOptions, connect
from espforge.protocol.loader import Loader
from espforge.protocol.stub import start_stub
from espforge.protocol.stub_image import load_stub_file
from espforge.virtual.stub_rx import StubReceiver

QUICK = Settings(timeout=1.0)


def test_frames_sent_one_answer_at_a_time_are_all_received() -> None:
    receiver = StubReceiver()
    answered = written = 0.0
    for _ in range(10):  # each frame is sent once the previous one was answered
        arrived = answered + 0.002
        assert receiver.admit(answered + 0.001, arrived)
        answered = max(arrived, written)  # the stub answers a block as it takes it
        written = answered + 0.05
        receiver.record(Opcode.FLASH_DEFL_DATA, answered, written)
    assert not receiver.overrun


def test_a_third_frame_into_a_buffer_still_being_written_from_overruns() -> None:
    receiver = StubReceiver()
    assert receiver.admit(0.0, 0.1)
    receiver.record(Opcode.FLASH_DEFL_DATA, 0.1, 0.3)  # written from buffer A until 0.3
    assert receiver.admit(0.1, 0.2)  # into B while A is written: fine
    receiver.record(Opcode.FLASH_DEFL_DATA, 0.3, 0.5)
    assert not receiver.admit(0.25, 0.35)  # back into A before 0.3
    assert receiver.overrun and not receiver.admit(9.0, 9.1)  # and the stub is gone


def test_a_command_overwritten_in_the_slot_before_it_was_taken_overruns() -> None:
    receiver = StubReceiver()
    assert receiver.admit(0.0, 0.01)
    receiver.record(Opcode.SPI_FLASH_MD5, 0.01, 0.5)  # hashing until 0.5; A free at 0.01
    assert receiver.admit(0.02, 0.03)  # waits in the slot until 0.5
    receiver.record(Opcode.SPI_FLASH_MD5, 0.5, 1.0)
    assert not receiver.admit(0.04, 0.05)  # completes before 0.5: overwrites the slot


@pytest.fixture
def stub() -> Loader:
    esptool = pytest.importorskip("esptool", reason="esptool's stub files are absent")
    stubs = Path(esptool.__file__).parent / "targets" / "stub_flasher" / "2"
    # Flash work takes its time; the link none (so frames sent at once arrive at once).
    loader = connect(ConnectOptions("virtual://esp32c3?flash_timing=1", settings=QUICK))
    start_stub(loader, load_stub_file(stubs / "esp32c3.json"))
    yield loader
    loader.port.close()


def test_two_md5_requests_in_flight_are_both_answered(stub: Loader) -> None:
    md5 = struct.pack("<IIII", 0, 0x100000, 0, 0)
    stub.channel.send(Opcode.SPI_FLASH_MD5, md5)
    stub.channel.send(Opcode.SPI_FLASH_MD5, md5)
    for _ in range(2):
        stub.channel.await_response(Opcode.SPI_FLASH_MD5, 3.0)
    assert not stub.port.chip.stub_receiver.overrun


def test_a_third_request_in_flight_loses_the_stub(stub: Loader) -> None:
    md5 = struct.pack("<IIII", 0, 0x100000, 0, 0)  # half a second of hashing each
    for _ in range(3):
        stub.channel.send(Opcode.SPI_FLASH_MD5, md5)
    assert stub.port.chip.stub_receiver.overrun
    with pytest.raises(ProtocolError):
        for _ in range(3):
            stub.channel.await_response(Opcode.SPI_FLASH_MD5, 3.0)


def test_data_blocks_sent_without_waiting_for_answers_lose_the_stub(stub: Loader) -> None:
    data = os.urandom(0x4000 * 3)  # incompressible: three full blocks to program
    compressed = zlib.compress(data, 9)
    blocks = stub.flash_defl_begin(len(data), len(compressed), 0x10000)
    size = stub.flash_block_size
    for seq in range(blocks):
        block = compressed[seq * size : (seq + 1) * size]
        header = struct.pack("<IIII", len(block), seq, 0, 0)
        stub.channel.send(Opcode.FLASH_DEFL_DATA, header + block, checksum(block))
    assert stub.port.chip.stub_receiver.overrun
    with pytest.raises(ProtocolError):
        stub.flash_md5(0x10000, len(data))


@pytest.mark.parametrize("client", ["espforge", "esptool"])
def test_clients_that_wait_for_each_answer_keep_the_stub(client: str, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(0x30000))  # incompressible: many full blocks to program
    port = f"virtual://esp32c3?flash_timing=1&flash={tmp_path / 'flash.bin'}"
    args = ("--port", port, "--before", "no-reset", "write-flash", "0x10000", str(payload))
    if client == "espforge":
        output = espforge_in_process(*args, env={"ESPFORGE_STUB_DIR": str(esptool_stub_dir())})
    else:
        output = esptool_in_process(*args)
    assert "Stub flasher running." in output and "Hash of data verified." in output
