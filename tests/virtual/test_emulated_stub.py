"""cpu=emulate: the flasher stub esptool 5.6 ships for the ESP32-C3 runs as machine code on the
virtual chip's emulated RISC-V CPU; every byte it answers is what that code wrote."""

from __future__ import annotations

import base64
import json
import struct
import time
from pathlib import Path

import pytest

from conftest import espforge_in_process, esptool_in_process, esptool_stub_dir
from espforge.errors import EspforgeError
from espforge.link.slip import SlipDecoder, slip_encode
from espforge.protocol.commands import Opcode, checksum, encode_command
from espforge.virtual.chip import BootState, VirtualChip
from espforge.virtual.chip_options import ChipOptions
from espforge.virtual.config import chip_from_options

pytest.importorskip("unicorn", reason="unicorn (the emulate extra) is absent")
esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

UNHOOKED_ROM = 0x40001000  # inside the C3's ROM, where no function the table names lives


STUB_SETS = ["2", "1"]  # esptool 5.6's default (Apache-2.0/MIT) set and its legacy set


def stub_file(stub_set: str = "2") -> dict:
    folder = esptool_stub_dir().parent / stub_set
    return json.loads((folder / "esp32c3.json").read_text())


def emulating_chip() -> VirtualChip:
    chip = VirtualChip.create("esp32c3", options=ChipOptions(emulate_cpu=True))
    chip.read()  # the boot banner
    return chip


def command(chip: VirtualChip, opcode: int, data: bytes, check: int = 0) -> list[bytes]:
    """Send one request; the frames the chip answered with."""
    chip.receive(slip_encode(encode_command(opcode, data, check)))
    due = chip.next_due()  # the code's ets_delay_us calls put its output a little later
    if due is not None:
        time.sleep(max(0.0, due - chip.clock()))
    return SlipDecoder().feed(chip.read())


def upload(chip: VirtualChip, segments: list[tuple[int, bytes]], entry: int) -> list[bytes]:
    """The ROM loader's MEM_BEGIN/MEM_DATA/MEM_END, as esptool runs a stub; what came back."""
    for address, code in segments:
        command(chip, Opcode.MEM_BEGIN, struct.pack("<IIII", len(code), 1, len(code), address))
        header = struct.pack("<IIII", len(code), 0, 0, 0)
        command(chip, Opcode.MEM_DATA, header + code, checksum(code))
    return command(chip, Opcode.MEM_END, struct.pack("<II", 0, entry))


def stub_segments(stub: dict) -> list[tuple[int, bytes]]:
    return [
        (stub["text_start"], base64.b64decode(stub["text"])),
        (stub["data_start"], base64.b64decode(stub["data"])),
    ]


@pytest.mark.parametrize("stub_set", STUB_SETS)
def test_the_uploaded_stub_greets_from_emulated_code(stub_set: str) -> None:
    chip = emulating_chip()
    stub = stub_file(stub_set)
    frames = upload(chip, stub_segments(stub), stub["entry"])
    assert frames[-1] == b"OHAI"
    assert chip.state is BootState.RAM_CODE and chip.stub is None  # no Python stub model
    assert chip.cpu is not None and chip.cpu.stopped is None
    assert chip.cpu.machine.instructions > 0


def test_the_emulated_stub_answers_read_reg_as_a_stub() -> None:
    chip = emulating_chip()
    stub = stub_file()
    upload(chip, stub_segments(stub), stub["entry"])
    chip.memory.seed_word(0x60008850, 0x12345678)  # an eFuse word the stub reads over MMIO
    replies = command(chip, Opcode.READ_REG, struct.pack("<I", 0x60008850))
    assert len(replies) == 1
    direction, opcode, length, value = struct.unpack("<BBHI", replies[0][:8])
    assert (direction, opcode, value) == (1, Opcode.READ_REG, 0x12345678)
    assert replies[0][8:] == b"\x00\x00"  # a stub's two status bytes


def test_changing_the_uploaded_code_changes_the_chip(tmp_path: Path) -> None:
    """Code that calls a ROM address nobody serves: the chip falls silent, the log says why."""
    log = tmp_path / "chip.log"
    chip = VirtualChip.create("esp32c3", options=ChipOptions(emulate_cpu=True, log_path=str(log)))
    chip.read()
    stub = stub_file()
    lui_t0 = 0x37 | 5 << 7 | UNHOOKED_ROM  # lui t0, 0x40001
    jalr_t0 = 0x67 | 1 << 7 | 5 << 15  # jalr ra, 0(t0)
    code = struct.pack("<II", lui_t0, jalr_t0)
    frames = upload(chip, [(stub["text_start"], code)], stub["text_start"])
    assert b"OHAI" not in frames
    assert chip.cpu is not None and f"0x{UNHOOKED_ROM:08x}" in (chip.cpu.stopped or "")
    assert command(chip, Opcode.SYNC, b"\x07\x07\x12\x20" + b"\x55" * 32) == []  # silent
    assert f"0x{UNHOOKED_ROM:08x}" in log.read_text()


def test_a_stub_that_crashes_leaves_a_silent_chip() -> None:
    chip = emulating_chip()
    stub = stub_file()
    frames = upload(chip, [(stub["text_start"], b"\x00\x00\x00\x00")], stub["text_start"])
    assert frames[-1] != b"OHAI"
    assert chip.cpu is not None and "crashed" in (chip.cpu.stopped or "")


@pytest.mark.parametrize("stub_set", STUB_SETS)
@pytest.mark.parametrize("compress", ["-z", "-u"])
def test_esptool_writes_reads_and_erases_through_the_emulated_stub(
    tmp_path: Path, compress: str, stub_set: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --stub-version reorders esptool's class-wide stub folder list: restore it afterwards.
    stub_flasher = esptool.loader.StubFlasher
    monkeypatch.setattr(stub_flasher, "STUB_SUBDIRS", list(stub_flasher.STUB_SUBDIRS))
    flash = tmp_path / "flash.bin"
    payload = bytes(range(256)) * 96 + bytes(40 * 1024)  # compressible and not
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    port = f"virtual://esp32c3?cpu=emulate&flash={flash}"
    out = esptool_in_process(
        "--stub-version", stub_set, "--port", port, "--baud", "921600",
        "write-flash", compress, "0x10000", str(source),
    )  # fmt: skip
    assert "Stub flasher running." in out and "Hash of data verified." in out
    image = flash.read_bytes()
    assert image[0x10000 : 0x10000 + len(payload)] == payload
    assert image[:0x10000] == b"\xff" * 0x10000
    back = tmp_path / "back.bin"
    esptool_in_process("--port", port, "read-flash", "0x10000", str(len(payload)), str(back))
    assert back.read_bytes() == payload
    esptool_in_process("--port", port, "verify-flash", "0x10000", str(source))
    esptool_in_process("--port", port, "erase-region", "0x10000", "0x1000")
    assert flash.read_bytes()[0x10000:0x11000] == b"\xff" * 0x1000


def test_espforge_writes_through_the_emulated_esptool_stub(tmp_path: Path) -> None:
    flash = tmp_path / "flash.bin"
    payload = bytes(range(256)) * 64
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    port = f"virtual://esp32c3?cpu=emulate&flash={flash}"
    espforge_in_process(
        "--port", port, "--stub-dir", str(esptool_stub_dir()), "write-flash", "0x8000", str(source)
    )
    assert flash.read_bytes()[0x8000 : 0x8000 + len(payload)] == payload


def test_cpu_emulate_is_an_option_of_emulated_chips_only() -> None:
    assert chip_from_options("esp32c3", {"cpu": "emulate"}).options.emulate_cpu
    assert not chip_from_options("esp32c3", {}).options.emulate_cpu
    with pytest.raises(EspforgeError, match="no emulated CPU"):
        chip_from_options("esp32", {"cpu": "emulate"})
    with pytest.raises(EspforgeError, match="cpu=fast is not understood"):
        chip_from_options("esp32c3", {"cpu": "fast"})
