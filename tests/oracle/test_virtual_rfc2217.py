"""The virtual chip behind an RFC 2217 server: the host's DTR/RTS reset it, as on a real board.

The stock esptool 5.6 (test-only oracle) runs as a subprocess on rfc2217:// URLs with its default
reset (`--before default-reset --after hard-reset`), so every run must find the chip reset into
its ROM. pyserial's RFC 2217 client waits at least 50 ms for each setting it sends, and esptool
changes the port's timeout around every command, so each command costs about 0.2 s: the esptool
sessions, which mostly sleep, run side by side (started once per module, each test checks one).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import serial

from conftest import esptool_stub_dir, run_espforge, run_esptool
from espforge.virtual.chip import BootState, VirtualChip
from espforge.virtual.config import chip_from_options
from espforge.virtual.transports import Rfc2217Server
from served import SYNC_FRAME, served_chip, sync_replies

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

STUB_DIR = esptool_stub_dir()
UPLOADED = "Uploading stub flasher"
ALREADY_RUNNING = "Stub flasher is already running"
PAYLOAD_AT = 0x10000


def checked(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def esptool_runs(chip: VirtualChip, url_options: str, *runs: tuple[str, ...]) -> list[str]:
    """Serve `chip` on RFC 2217 and run the stock esptool once per argument tuple."""
    with Rfc2217Server(chip) as server:
        return [checked(run_esptool("--port", server.port + url_options, *run)) for run in runs]


def payload(tmp_path: Path) -> tuple[Path, bytes]:
    """Random bytes (plenty of 0xFF, which telnet must escape) spanning three sectors."""
    data = random.Random(2217).randbytes(0x2800)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, data


def default_resets(url_options: str, runs: int) -> tuple[list[str], VirtualChip]:
    """Runs with esptool's default resets on a chip that starts in its application, not the ROM."""
    chip = chip_from_options("esp32c3", {"start": "app"})
    return esptool_runs(chip, url_options, *[("read-mac",)] * runs), chip


def stub_left_running() -> list[str]:
    chip = chip_from_options("esp32c3", {})
    keep_stub, find_stub = ("--after", "no-reset-stub"), ("--before", "no-reset")
    return esptool_runs(chip, "", (*keep_stub, "read-mac"), (*find_stub, "read-mac"))


def espforge_session(tmp_path: Path) -> tuple[list[str], bytes, bytes, bytes]:
    """espforge itself through `espforge virtual serve --rfc2217 0`, with the flasher stub."""
    image, data = payload(tmp_path)
    copy = tmp_path / "read.bin"
    runs = [
        ("--baud", "921600", "write-flash", hex(PAYLOAD_AT), str(image)),
        ("read-flash", hex(PAYLOAD_AT), str(image.stat().st_size), str(copy)),
        ("--after", "no-reset-stub", "read-mac"),
        ("--before", "no-reset", "read-mac"),
    ]
    stub = ("--stub-dir", str(STUB_DIR))
    with served_chip(tmp_path, "--rfc2217", "0") as (port, flash_file):
        assert port.startswith("rfc2217://127.0.0.1:")
        outputs = [checked(run_espforge("--port", port, *stub, *run)) for run in runs]
    written = flash_file.read_bytes()[PAYLOAD_AT : PAYLOAD_AT + len(data)]
    return outputs, data, written, copy.read_bytes()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory) -> dict[str, Future]:
    folder = tmp_path_factory.mktemp("espforge")
    work: dict[str, Callable[[], object]] = {
        "default": lambda: default_resets("", runs=2),
        "ign_set_control": lambda: default_resets("?ign_set_control", runs=1),  # 0.1 s a line
        "stub_left_running": stub_left_running,
        "espforge": lambda: espforge_session(folder),
    }
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        yield {name: pool.submit(job) for name, job in work.items()}


@pytest.mark.parametrize("url_options", ["default", "ign_set_control"])
def test_every_esptool_run_finds_the_chip_reset_into_its_rom(sessions, url_options: str) -> None:
    outputs, chip = sessions[url_options].result(timeout=120)
    for output in outputs:  # each found the ROM, then its stub was gone after the hard reset
        assert UPLOADED in output and ALREADY_RUNNING not in output
        assert "Hard resetting via RTS pin" in output
    assert chip.stub is None and chip.state is not BootState.RAM_CODE  # the last hard reset


def test_esptool_finds_a_stub_left_running(sessions) -> None:
    left, found = sessions["stub_left_running"].result(timeout=120)
    assert UPLOADED in left and "Staying in flasher stub" in left
    assert ALREADY_RUNNING in found and UPLOADED not in found


def test_espforge_resets_changes_baud_and_keeps_its_stub_over_rfc2217(sessions) -> None:
    (write, read, left, found), data, written, copy = sessions["espforge"].result(timeout=120)
    assert written == data and copy == data  # written at 921600, read back at 115200
    assert "Changed." in write and "Hash of data verified." in write
    assert UPLOADED in read and UPLOADED in left  # each default reset brought back the ROM
    assert ALREADY_RUNNING in found and UPLOADED not in found


@pytest.mark.slow
def test_esptool_writes_and_reads_at_921600_and_reconnects_at_115200(tmp_path: Path) -> None:
    image, data = payload(tmp_path)
    copy = tmp_path / "read.bin"
    chip = chip_from_options("esp32c3", {"flash": str(tmp_path / "flash.bin")})
    fast = ("--baud", "921600")
    write, read, after = esptool_runs(
        chip,
        "",
        (*fast, "write-flash", hex(PAYLOAD_AT), str(image)),
        (*fast, "read-flash", hex(PAYLOAD_AT), str(len(data)), str(copy)),
        ("read-mac",),
    )
    assert "Changed." in write and "Hash of data verified." in write
    assert copy.read_bytes() == data
    assert chip.flash.read(PAYLOAD_AT, len(data)) == data
    assert UPLOADED in after and chip.baud == 115200


# ------------------------------------------------------------------ the server on its own


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 2
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_host_lines_reset_the_chip_and_the_baud_rate_is_the_hosts() -> None:
    chip = chip_from_options("esp32s3", {"start": "app"})
    with Rfc2217Server(chip) as server:
        assert server.port == f"rfc2217://127.0.0.1:{server.tcp_port}"
        port = serial.serial_for_url(server.port, baudrate=115200, timeout=0.3)
        assert chip.state is BootState.APPLICATION  # opening the port did not reset it
        assert server.host_baud == 115200
        port.dtr, port.rts = False, True  # EN low (each change waits for the server's answer)
        assert chip.state is BootState.RESET
        port.dtr = True  # GPIO0 low, and EN released with it
        port.rts = False
        time.sleep(0.05)
        port.dtr = False
        assert b"waiting for download" in port.read(4096)  # the ROM speaks 115200 first
        port.baudrate = 921600
        assert server.host_baud == 921600
        # The ROM takes the rate the host syncs at.
        assert sync_replies(lambda: port.read(port.in_waiting or 1), port.write) == 8
        assert chip.baud == 921600
        port.baudrate = 115200
        port.rts = True  # a hard reset: EN pulsed with GPIO0 high
        port.rts = False
        assert b"SPI_FAST_FLASH_BOOT" in port.read(4096)
        port.close()
        wait_for(lambda: server.host_baud is None)


def test_a_host_leaving_mid_session_lets_the_next_one_in() -> None:
    chip = chip_from_options("esp32c3", {})
    with Rfc2217Server(chip) as server:
        # A host that never finishes its telnet negotiation nor its SLIP frame, then vanishes.
        with socket.create_connection(("127.0.0.1", server.tcp_port)) as rude:
            rude.sendall(b"\xff\xfa\x2c\x05" + SYNC_FRAME[:20])  # IAC SB COM-PORT SET-CONTROL...
        port = serial.serial_for_url(server.port, timeout=0.3)
        port.write(SYNC_FRAME[:20])  # half a command, then gone
        port.close()
        port = serial.serial_for_url(server.port, timeout=0.3)
        port.write(SYNC_FRAME)  # its first byte ends the broken frame, as on a real UART
        time.sleep(0.05)
        port.reset_input_buffer()
        assert sync_replies(lambda: port.read(port.in_waiting or 1), port.write) == 8
        assert chip.state is BootState.DOWNLOAD  # nobody's lines reset it on the way
        port.close()
