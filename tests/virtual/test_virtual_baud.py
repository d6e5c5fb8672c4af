"""The virtual chip's UART rate: the ROM takes the rate the host syncs at, CHANGE_BAUDRATE moves
it (by the ROM's idea of its crystal, or by a stub's scaling of the old rate), and a host at
another rate hears garbage and is not heard. So a client that gets a rate change wrong fails
here as it would on a board."""

from __future__ import annotations

import contextlib
import re
import struct
from pathlib import Path

import pytest
import serial

from conftest import esptool_in_process, run_esptool
from espforge.config import Settings
from espforge.errors import ProtocolError
from espforge.link.port import register_url_handlers
from espforge.protocol.commands import Opcode
from espforge.protocol.connect import ConnectOptions, connect
from espforge.protocol.loader import Loader
from espforge.protocol.stub import start_stub
from espforge.protocol.stub_image import load_stub_file
from espforge.virtual.config import chip_from_options
from espforge.virtual.transports import PtyServer

QUICK = Settings(timeout=0.3)


def answers(loader: Loader) -> bool:
    """Whether the chip still hears the host and the host understands the chip."""
    try:
        loader.read_reg(loader.chip.uart_clkdiv_reg)
    except ProtocolError:
        return False
    return True


@pytest.mark.parametrize("baud", [9600, 57600, 115200])
def test_the_rom_takes_the_rate_the_host_syncs_at(baud: int) -> None:
    loader = connect(ConnectOptions("virtual://esp32c3", baud=baud, settings=QUICK))
    assert loader.port.baudrate == baud
    assert loader.port.chip.baud == baud
    assert answers(loader)
    loader.port.close()


@contextlib.contextmanager
def esp32c3_port(how: str):
    """A port name for a virtual ESP32-C3: in this process, or behind a PTY (whose rate the
    server reads from the terminal settings the host made)."""
    if how == "in-process":
        yield "virtual://esp32c3"
        return
    with PtyServer(chip_from_options("esp32c3", {})) as server:
        yield server.port


@pytest.mark.parametrize("how", ["in-process", "pty"])
def test_a_host_that_does_not_follow_a_rate_change_is_not_heard(how: str) -> None:
    with esp32c3_port(how) as port:
        loader = connect(ConnectOptions(port, before="no-reset", settings=QUICK))
        try:
            check_a_missed_rate_change(loader)
        finally:
            loader.port.close()


def check_a_missed_rate_change(loader: Loader) -> None:
    loader.channel.send(Opcode.CHANGE_BAUDRATE, struct.pack("<II", 460800, 0))
    loader.channel.await_response(Opcode.CHANGE_BAUDRATE, 1.0)  # still at the old rate
    assert not answers(loader)  # the host stayed at 115200
    loader.port.baudrate = 460800
    loader.link.discard_input()
    assert answers(loader)


@pytest.mark.parametrize("chip", ["esp32", "esp32c2"])
def test_rom_rate_changes_make_up_for_a_26_mhz_crystal(chip: str) -> None:
    loader = connect(ConnectOptions(f"virtual://{chip}?crystal=26", baud=921600, settings=QUICK))
    assert abs(loader.port.chip.baud - 921600) <= 0.04 * 921600
    assert answers(loader)
    loader.port.close()


def test_a_rom_that_assumes_40_mhz_is_off_by_the_crystal_ratio_unless_told() -> None:
    loader = connect(ConnectOptions("virtual://esp32c2?crystal=26", settings=QUICK))
    loader._switch_baud(921600, struct.pack("<II", 921600, 0))
    assert loader.port.chip.baud == 921600 * 26 // 40
    assert not answers(loader)
    loader.port.close()


def stub_loader(url: str):
    esptool = pytest.importorskip("esptool", reason="esptool's stub files are absent")
    stubs = Path(esptool.__file__).parent / "targets" / "stub_flasher" / "2"
    loader = connect(ConnectOptions(url, settings=QUICK))
    start_stub(loader, load_stub_file(stubs / f"{loader.chip.name}.json"))
    return loader


def test_a_stub_scales_its_rate_by_the_old_rate_the_host_claims() -> None:
    stub = stub_loader("virtual://esp32c3")
    stub.change_baud(921600)
    assert stub.port.chip.baud == 921600 and answers(stub)
    # Claiming 230400 while at 921600: the stub ends at 921600 * 460800 / 230400.
    stub._switch_baud(460800, struct.pack("<II", 460800, 230400))
    assert stub.port.chip.baud == 1843200
    assert not answers(stub)
    stub.port.close()


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "rom"])
def test_esptool_changes_the_rate_of_a_26_mhz_esp32(stub: bool, tmp_path: Path) -> None:
    chip = chip_from_options("esp32", {"crystal": "26", "flash": str(tmp_path / "flash.bin")})
    # Stay where the rate was changed: in the stub, or in the ROM.
    mode = ("--after", "no-reset-stub") if stub else ("--after", "no-reset", "--no-stub")
    with PtyServer(chip) as server:
        result = run_esptool(
            "--port", server.port, "--before", "no-reset", *mode, "--baud", "921600", "read-mac"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Changed." in result.stdout and "MAC:" in result.stdout
        assert abs(chip.baud - 921600) <= 0.04 * 921600


@pytest.mark.parametrize(
    "url, banner",
    [("virtual://esp8266", b"ets Jan  8 2013"), ("virtual://esp32c2?crystal=26", b"ESP-ROM:")],
)
def test_a_rom_built_for_40_mhz_on_26_mhz_prints_its_banner_at_74880(url: str, banner) -> None:
    register_url_handlers()
    for baud, legible in ((74880, True), (115200, False)):
        port = serial.serial_for_url(url, baudrate=baud, timeout=0.3)
        assert (banner in port.read(4096)) is legible
        port.close()


def test_esptool_syncs_at_115200_with_an_esp8266_on_26_mhz() -> None:

    output = esptool_in_process("--port", "virtual://esp8266", "--no-stub", "chip-id")
    assert re.search(r"Crystal frequency: +26MHz", output) and "Chip ID:" in output
