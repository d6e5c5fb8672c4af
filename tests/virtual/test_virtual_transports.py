"""Reaching the virtual chip: the in-process virtual:// port, a PTY, a loopback TCP port."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time

import pytest
import serial

from espforge.virtual.config import chip_from_options
from espforge.virtual.transports import PtyServer, TcpServer
from served import SYNC_FRAME, sync_replies


@pytest.fixture(autouse=True)
def virtual_urls() -> None:
    if "espforge.virtual" not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append("espforge.virtual")


def test_virtual_url_port_behaves_like_a_serial_port(tmp_path) -> None:
    port = serial.serial_for_url(f"virtual://esp32?flash={tmp_path / 'f.bin'}", timeout=0.2)
    assert port.chip.chip.name == "esp32"
    assert port.in_waiting > 0  # the boot banner
    port.reset_input_buffer()
    assert port.in_waiting == 0
    assert port.read(10) == b""  # times out empty
    assert sync_replies(lambda: port.read(port.in_waiting or 1), port.write) == 8
    with pytest.raises(OSError) as error:
        port.fileno()
    assert error.value.errno == errno.ENOTTY
    port.close()
    assert (tmp_path / "f.bin").stat().st_size == 0x400000


def test_virtual_url_lines_reset_the_chip() -> None:
    port = serial.serial_for_url("virtual://esp32s3?start=app", baudrate=115200, timeout=0.5)
    assert b"SPI_FAST_FLASH_BOOT" in port.read(4096)
    port.dtr, port.rts = False, True  # EN low
    port.dtr = True  # both asserted: EN released...
    port.rts = False  # ...while GPIO0 is held low
    time.sleep(0.05)
    port.dtr = False
    assert b"waiting for download" in port.read(4096)
    port.close()


def test_virtual_url_errors_are_serial_exceptions() -> None:
    with pytest.raises(serial.SerialException, match="unknown chip 'esp99'"):
        serial.serial_for_url("virtual://esp99")
    with pytest.raises(serial.SerialException, match="option 'speed' is unknown"):
        serial.serial_for_url("virtual://esp32?speed=9")
    port = serial.serial_for_url("virtual://esp32?faults=disconnect_after=1", timeout=0.1)
    port.reset_input_buffer()
    port.write(SYNC_FRAME)
    assert len(port.read(1000)) == 8 * 14  # the replies sent before hanging up
    with pytest.raises(serial.SerialException, match="hung up"):
        port.read(1)
    with pytest.raises(serial.SerialException, match="hung up"):
        port.write(SYNC_FRAME)
    port.close()


def test_pty_server_serves_a_host_that_opens_the_device(tmp_path) -> None:
    chip = chip_from_options("esp32c3", {"flash": str(tmp_path / "f.bin")})
    with PtyServer(chip) as server:
        assert server.port.startswith("/dev/")
        for _ in range(2):  # a second host finds the chip still there
            port = serial.Serial(server.port, 115200, timeout=0.1)
            port.reset_input_buffer()
            assert sync_replies(lambda p=port: p.read(4096), port.write) == 8
            port.close()
    chip.close()


def test_tcp_server_accepts_one_host_after_another() -> None:
    chip = chip_from_options("esp8266", {})
    threads = threading.active_count()
    with TcpServer(chip) as server:
        assert server.port == f"socket://127.0.0.1:{server.tcp_port}"
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=1) as client:
                assert sync_replies(lambda c=client: c.recv(4096), client.sendall) == 8
    assert threading.active_count() == threads
    chip.close()


def test_tcp_server_hangs_up_on_an_injected_disconnect() -> None:
    chip = chip_from_options("esp32", {"faults": "disconnect_after=1"})
    with (
        TcpServer(chip) as server,
        socket.create_connection(("127.0.0.1", server.tcp_port), timeout=2) as client,
    ):
        client.sendall(SYNC_FRAME)
        received = b""
        while chunk := client.recv(4096):
            received += chunk
        assert received.count(b"\xc0") >= 2  # the reply went out before the hang-up
    chip.close()


def test_servers_leave_no_threads_or_descriptors_behind() -> None:
    threads = threading.active_count()
    descriptors = len(os.listdir("/proc/self/fd"))
    for server_class in (PtyServer, TcpServer):
        chip = chip_from_options("esp32", {})
        with server_class(chip):
            pass
        chip.close()
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == descriptors


def test_busy_tcp_port_is_a_clear_error() -> None:
    from espforge.errors import EspforgeError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        chip = chip_from_options("esp32", {})
        with pytest.raises(EspforgeError, match="cannot listen on 127.0.0.1"):
            TcpServer(chip, taken.getsockname()[1]).start()
        chip.close()
