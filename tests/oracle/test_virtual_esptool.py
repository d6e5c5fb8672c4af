"""The stock esptool 5.6 (test-only oracle), in ROM mode, against the virtual chip.

esptool runs as a subprocess on a PTY or a socket:// URL served from this process, or in-process
on a virtual:// port (its reset sequence then drives the chip's modem lines). The data written
must land byte-exact in the chip's flash file.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import esptool_in_process
from espforge.chips import CHIP_NAMES, get_chip
from espforge.virtual.config import chip_from_options
from espforge.virtual.identity import ChipIdentity
from espforge.virtual.transports import PtyServer, TcpServer, serve

esptool = pytest.importorskip("esptool", reason="esptool (test-only oracle) is absent")

REPRESENTATIVE = ["esp8266", "esp32", "esp32s2", "esp32c3", "esp32c6", "esp32p4"]
FIRST, SECOND = 0x10000, 0x31000  # where the two payloads go
ERASED_SECTOR = 0x32000  # erase-region clears this sector of the second payload


@pytest.fixture(scope="module")
def payloads(tmp_path_factory) -> tuple[Path, Path]:
    """A compressible payload not sector-sized, and a random one spanning three sectors."""
    folder = tmp_path_factory.mktemp("payloads")
    rng = random.Random(4)
    first = folder / "first.bin"
    first.write_bytes(rng.randbytes(20000) + bytes(30000) + b"end!")
    second = folder / "second.bin"
    second.write_bytes(rng.randbytes(0x2A00))
    return first, second


def esptool_subprocess(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "esptool", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def run_session(run, port: str, chip: str, tmp_path: Path, payloads, auto_detect=True) -> None:
    """chip-id, read-mac, flash-id, write (compressed and not), verify, read, erase-region."""
    spec = get_chip(chip)
    first, second = payloads
    common = ["--port", port, "--before", "no-reset", "--after", "no-reset", "--no-stub"]
    detect = ["--chip", "auto" if auto_detect else chip, *common]
    mac = ":".join(f"{byte:02x}" for byte in ChipIdentity.default_for(spec).mac)
    mac_line = re.compile(rf"^(BASE )?MAC: +{mac}$", re.MULTILINE)  # EUI-64 chips say BASE MAC
    output = run(*detect, "chip-id")
    assert mac_line.search(output)
    if auto_detect:
        assert f"Detecting chip type... {spec.chip_name}" in output
    base = ["--chip", chip, *common]
    assert mac_line.search(run(*base, "read-mac"))
    flash_id = run(*base, "flash-id")
    assert "Manufacturer: ef" in flash_id and "Detected flash size: 4MB" in flash_id
    if not spec.rom.compressed_writes:  # ESP8266: esptool itself refuses what its ROM lacks
        output = run(*base, "write-flash", "--no-compress", hex(FIRST), str(first))
        assert f"Wrote {-(-first.stat().st_size // 4) * 4} bytes" in output  # padded to 4
        run(*base, "write-flash", "--no-compress", hex(SECOND), str(second))
        return
    assert "Hash of data verified." in run(*base, "write-flash", "-z", hex(FIRST), str(first))
    output = run(*base, "write-flash", "--no-compress", hex(SECOND), str(second))
    assert "Hash of data verified." in output
    output = run(*base, "verify-flash", hex(FIRST), str(first), hex(SECOND), str(second))
    assert output.count("Verification successful (digest matched).") == 2
    read_back = tmp_path / "read.bin"
    run(*base, "read-flash", hex(SECOND), str(second.stat().st_size), str(read_back))
    assert read_back.read_bytes() == second.read_bytes()
    run(*base, "erase-region", hex(ERASED_SECTOR), "0x1000")


def check_flash_file(flash_file: Path, chip: str, payloads) -> None:
    flash = flash_file.read_bytes()
    first, second = (path.read_bytes() for path in payloads)
    assert len(flash) == 0x400000
    assert flash[FIRST : FIRST + len(first)] == first
    assert flash[FIRST + len(first) : 0x20000] == b"\xff" * (0x20000 - FIRST - len(first))
    expected = bytearray(second)
    if get_chip(chip).rom.compressed_writes:  # the full session ends with erase-region
        start = ERASED_SECTOR - SECOND
        expected[start : start + 0x1000] = b"\xff" * 0x1000
    assert flash[SECOND : SECOND + len(second)] == expected
    assert flash[:FIRST] == b"\xff" * FIRST


def serve_and_run(server_class, chip: str, tmp_path: Path, payloads, auto_detect=True) -> None:
    flash_file = tmp_path / "flash.bin"
    virtual = chip_from_options(chip, {"flash": str(flash_file)})
    try:
        with server_class(virtual) as server:
            run_session(esptool_subprocess, server.port, chip, tmp_path, payloads, auto_detect)
    finally:
        virtual.close()
    check_flash_file(flash_file, chip, payloads)


@pytest.mark.parametrize("chip", REPRESENTATIVE)
def test_esptool_over_a_pty(chip: str, tmp_path: Path, payloads) -> None:
    serve_and_run(PtyServer, chip, tmp_path, payloads)


@pytest.mark.parametrize("chip", ["esp32s3", "esp32h2"])
def test_esptool_over_socket(chip: str, tmp_path: Path, payloads) -> None:
    serve_and_run(TcpServer, chip, tmp_path, payloads, auto_detect=False)


@pytest.mark.slow
@pytest.mark.parametrize("chip", CHIP_NAMES)
@pytest.mark.parametrize("server_class", [PtyServer, TcpServer])
def test_esptool_every_chip(server_class, chip: str, tmp_path: Path, payloads) -> None:
    serve_and_run(server_class, chip, tmp_path, payloads, auto_detect=server_class is PtyServer)


@pytest.mark.slow
@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_esptool_in_process_every_chip(chip: str, tmp_path: Path, payloads) -> None:
    flash_file = tmp_path / "flash.bin"
    port = f"virtual://{chip}?flash={flash_file}"
    run_session(esptool_in_process, port, chip, tmp_path, payloads)
    check_flash_file(flash_file, chip, payloads)


def test_esptool_reset_sequence_brings_a_running_chip_into_download_mode(tmp_path) -> None:
    """esptool's default reset: its tight sequence cannot ioctl our port, the classic one works."""
    flash_file = tmp_path / "flash.bin"
    port = f"virtual://esp32c3?flash={flash_file}&start=app"
    args = ["--chip", "esp32c3", "--port", port, "--no-stub", "--connect-attempts", "4"]
    output = esptool_in_process(*args, "--after", "no-reset", "read-mac")
    assert "Connected to ESP32-C3" in output and "MAC:" in output


def test_esptool_at_a_higher_baud_changes_the_chips_baud(tmp_path) -> None:
    port = f"virtual://esp32?flash={tmp_path / 'flash.bin'}&log={tmp_path / 'log.jsonl'}"
    common = ["--chip", "esp32", "--port", port, "--before", "no-reset", "--no-stub"]
    output = esptool_in_process(*common, "--baud", "921600", "--after", "no-reset", "flash-id")
    assert "Changed." in output and "Detected flash size: 4MB" in output
    log = (tmp_path / "log.jsonl").read_text()
    assert '"op": "CHANGE_BAUDRATE"' in log


def test_esptool_write_with_injected_faults_never_claims_success_over_bad_data(
    tmp_path, payloads
) -> None:
    """Corrupted FLASH_DATA responses: esptool fails clearly or the data it verified is right."""
    first, _ = payloads
    flash_file = tmp_path / "flash.bin"
    port = f"virtual://esp32c3?flash={flash_file}&faults=corrupt=0.2,only=FLASH_DATA&seed=3"
    args = ["--chip", "esp32c3", "--port", port, "--before", "no-reset", "--no-stub"]
    try:
        output = esptool_in_process(
            *args, "--after", "no-reset", "write-flash", "-u", "0x0", str(first)
        )
    except esptool.FatalError:
        return  # a clear failure is an acceptable outcome; a false success is not
    assert "Hash of data verified." in output
    assert flash_file.read_bytes()[: first.stat().st_size] == first.read_bytes()


def test_serve_publishes_the_port_and_stops_cleanly(tmp_path) -> None:
    port_file = tmp_path / "port.txt"
    flash_file = tmp_path / "flash.bin"
    stop = threading.Event()
    announced: list[str] = []
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    worker = threading.Thread(
        target=serve,
        kwargs=dict(
            chip="esp32c6",
            flash_file=str(flash_file),
            tcp_port=0,
            port_file=str(port_file),
            options={"mac": "02:11:22:33:44:55"},
            announce=announced.append,
            stop=stop,
        ),
    )
    worker.start()
    try:
        for _ in range(100):
            if port_file.exists():
                break
            stop.wait(0.05)
        port = port_file.read_text().strip()
        assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", port)
        assert announced == [f"Virtual ESP32-C6 ready on {port}"]
        output = esptool_subprocess(
            "--chip", "esp32c6", "--port", port, "--no-stub", "--after", "no-reset", "read-mac"
        )
        assert "BASE MAC:           02:11:22:33:44:55" in output
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert threading.active_count() == threads_before
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert flash_file.stat().st_size == 0x400000
