"""Opening ports through pyserial URLs, one-line open errors, discovery order and filters."""

from __future__ import annotations

import errno
import os
import pty
import socket
from types import SimpleNamespace

import pytest
import serial

from espforge.errors import PortError
from espforge.link import port as ports
from espforge.link.reader import FrameLink
from espforge.link.slip import slip_encode


def test_url_handlers_are_registered_once() -> None:
    ports.register_url_handlers()
    ports.register_url_handlers()
    assert serial.protocol_handler_packages.count("espforge.virtual") == 1


def test_loop_url_opens_through_pyserial_with_our_settings() -> None:
    link = ports.open_port("loop://", 115200, write_timeout=2.0)
    try:
        assert (link.baudrate, link.write_timeout, link.is_open) == (115200, 2.0, True)
        frames = FrameLink(link)
        frames.write_frame(b"\xc0hello\xdb")
        assert frames.read_frame(1.0) == b"\xc0hello\xdb"
    finally:
        link.close()


def test_a_pty_opens_like_a_serial_device() -> None:
    controller, device = pty.openpty()
    try:
        link = ports.open_port(os.ttyname(device))
        os.write(controller, b"boot noise" + slip_encode(b"frame"))
        frames = FrameLink(link)
        assert frames.read_frame(1.0) == b"frame"
        assert bytes(frames.chip_output) == b"boot noise"
        link.close()
    finally:
        os.close(controller)
        os.close(device)


def test_a_socket_url_reaches_a_local_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        link = ports.open_port(f"socket://127.0.0.1:{server.getsockname()[1]}")
        accepted, _ = server.accept()
        with accepted:
            accepted.sendall(slip_encode(b"pong"))
            assert FrameLink(link).read_frame(2.0) == b"pong"
        link.close()


def test_a_missing_port_says_what_to_do(tmp_path) -> None:
    with pytest.raises(PortError, match="does not exist: check the cable") as caught:
        ports.open_port(str(tmp_path / "ttyUSB9"))
    assert caught.value.reason == "missing"


def test_an_unknown_url_scheme_is_one_line() -> None:
    with pytest.raises(PortError, match="cannot open 'bogus://x'"):
        ports.open_port("bogus://x")


@pytest.mark.parametrize(
    ("error", "reason", "advice"),
    [
        (serial.SerialException(errno.EBUSY, "could not open port: busy"), "busy", "in use"),
        (
            serial.SerialException(errno.EAGAIN, "Could not exclusively lock port x: [Errno 11]"),
            "busy",
            "close it",
        ),
        (
            serial.SerialException(errno.EACCES, "could not open port: Permission denied"),
            "permission",
            "dialout",
        ),
        (serial.SerialException("strange failure"), "other", "strange failure"),
    ],
)
def test_open_failures_are_classified(error, reason: str, advice: str) -> None:
    described = ports._describe_open_failure("/dev/ttyUSB0", error)
    assert described.reason == reason
    assert advice in str(described)
    assert "\n" not in str(described)


def test_a_port_held_exclusively_is_reported_busy() -> None:
    controller, device = pty.openpty()
    try:
        first = ports.open_port(os.ttyname(device))
        with pytest.raises(PortError) as caught:
            ports.open_port(os.ttyname(device))
        assert caught.value.reason == "busy"
        first.close()
    finally:
        os.close(controller)
        os.close(device)


def info(device: str, vid=None, pid=None, serial_number=None) -> SimpleNamespace:
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial_number)


LISTED = [
    info("/dev/ttyS0"),
    info("/dev/ttyACM0", 0x2341, 0x43),
    info("/dev/ttyUSB1", 0x10C4, 0xEA60, "0001"),
    info("/dev/ttyACM1", 0x303A, 0x1001, "F4:12:FA:00"),
    info("/dev/ttyUSB0", 0x1A86, 0x7523, "ABC"),
]


def test_candidates_come_in_esptools_order() -> None:
    found = ports.candidate_ports(list_ports=lambda: LISTED, platform="linux")
    assert found == ["/dev/ttyACM1", "/dev/ttyUSB1", "/dev/ttyUSB0", "/dev/ttyACM0", "/dev/ttyS0"]


def test_candidates_agree_with_esptools_sorting(monkeypatch: pytest.MonkeyPatch) -> None:
    serial_ports = pytest.importorskip("esp_pylib.serial_ports")
    monkeypatch.setattr(serial_ports, "_comports", lambda: LISTED)
    monkeypatch.setattr(serial_ports.sys, "platform", "linux")
    for terms in [(), ("vid=0x1A86",), ("name=ACM",), ("serial=f4", "name=tty"), ("pid=67",)]:
        theirs = serial_ports.get_port_names(**serial_ports.parse_port_filters(terms))
        ours = ports.candidate_ports(
            ports.parse_port_filter(terms), list_ports=lambda: LISTED, platform="linux"
        )
        assert ours == theirs, terms


def test_macos_lists_newest_first_and_hides_pseudo_ports() -> None:
    listed = [
        info("/dev/cu.Bluetooth-Incoming-Port"),
        info("/dev/cu.usbserial-1"),
        info("/dev/cu.usbserial-2"),
    ]
    found = ports.candidate_ports(list_ports=lambda: listed, platform="darwin")
    assert found == ["/dev/cu.usbserial-2", "/dev/cu.usbserial-1"]


@pytest.mark.parametrize("term", ["vid", "colour=red", "vid=zz", "pid="])
def test_bad_port_filters_are_refused(term: str) -> None:
    with pytest.raises(PortError, match="invalid --port-filter"):
        ports.parse_port_filter([term])


def test_usb_ids_of_a_listed_device_and_of_urls() -> None:
    assert ports.usb_ids("/dev/ttyACM1", lambda: LISTED) == (0x303A, 0x1001)
    assert ports.usb_ids("/dev/ttyS0", lambda: LISTED) == (None, None)
    assert ports.usb_ids("virtual://esp32c3", lambda: LISTED) == (None, None)
